-- Company picklists, value mapping and warnings (issue 12).
--
-- A picklist's values are the built-in ones of schemas/picklists.py overlaid with the company's
-- rows here: a row with a built-in value relabels it, gives it synonyms or retires it; a row
-- with a new value adds it. So every company starts with today's values without a seeding
-- step, and a later release that adds a built-in value reaches every company.
CREATE TABLE crm_picklist_values (
    company_id  uuid NOT NULL,
    picklist    text NOT NULL,
    value       text NOT NULL,
    label       text NOT NULL,
    synonyms    text[] NOT NULL DEFAULT '{}',
    position    integer,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, picklist, value)
);

-- The company's earlier decisions: a file value (its choice key) -> the picklist value chosen
-- for it; the first suggestion the next time the same word comes in.
CREATE TABLE crm_value_memory (
    company_id  uuid NOT NULL,
    picklist    text NOT NULL,
    source_key  text NOT NULL,
    value       text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, picklist, source_key)
);

ALTER TABLE crm_import_export_jobs
    ADD COLUMN value_mapping jsonb,
    ADD COLUMN warning_records integer NOT NULL DEFAULT 0;
ALTER TABLE crm_data_templates
    ADD COLUMN value_mapping jsonb NOT NULL DEFAULT '{}'::jsonb;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['crm_picklist_values', 'crm_value_memory'] LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO crmio_app', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (company_id = NULLIF(current_setting(''crmio.company_id'', true), '''')::uuid) '
            'WITH CHECK (company_id = NULLIF(current_setting(''crmio.company_id'', true), '''')::uuid)', t);
    END LOOP;
END $$;

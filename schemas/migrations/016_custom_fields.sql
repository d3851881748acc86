-- Issue 18: each company's own fields on its leads, contacts and accounts.
--
-- A custom field is a row here; its values live in the record table's `custom` jsonb column, keyed
-- by the field's name, so a new field needs no migration and no table rewrite, and one company's
-- fields are never columns another company sees. Each field gets an expression index of its own,
-- partial on its company (services/fields/indexes.py), so exports filter and sort on it by index.
-- A retired field keeps its values (records keep the key); it is no longer imported or offered.
CREATE TABLE crm_custom_fields (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL,
    target_model    text NOT NULL CHECK (target_model IN ('lead', 'contact', 'account')),
    -- the key in `custom`, a mapping target and an export column: lower case, digits and _
    name            text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,39}$'),
    label           text NOT NULL,
    field_type      text NOT NULL,
    required        boolean NOT NULL DEFAULT false,
    max_length      integer,
    -- the company picklist a choice field draws on (crm_picklist_values.picklist)
    picklist        text,
    validation_rules jsonb NOT NULL DEFAULT '{}'::jsonb,
    retired_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, target_model, name)
);

GRANT SELECT, INSERT, UPDATE, DELETE ON crm_custom_fields TO crmio_app;
ALTER TABLE crm_custom_fields ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm_custom_fields FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON crm_custom_fields
    USING (company_id = NULLIF(current_setting('crmio.company_id', true), '')::uuid)
    WITH CHECK (company_id = NULLIF(current_setting('crmio.company_id', true), '')::uuid);

-- NULL: the record has no custom value (every record stored before this migration).
ALTER TABLE crm_leads ADD COLUMN custom jsonb;
ALTER TABLE crm_contacts ADD COLUMN custom jsonb;
ALTER TABLE crm_accounts ADD COLUMN custom jsonb;

-- Issue 18: external ids. A record's external_id (the id another system gave it) is unique per company
-- and model, so an import can match duplicates on it (match_on external_id, as Salesforce's upsert)
-- and no two records claim one id. The apply path refuses a row that would give a second record an id
-- with a row error; this index also holds against two workers racing.
--
-- Records stored before this migration may share an id within a company: then that table gets a plain
-- index instead (the migration must keep every record), the warning names the table, and the apply
-- path's check still refuses new duplicates. Give those records distinct ids, then
-- `CREATE UNIQUE INDEX uq_<table>_external_id ...` as below.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['crm_leads', 'crm_contacts', 'crm_accounts'] LOOP
        BEGIN
            EXECUTE format(
                'CREATE UNIQUE INDEX %I ON %I (company_id, external_id) WHERE external_id IS NOT NULL',
                'uq_' || t || '_external_id', t);
        EXCEPTION WHEN unique_violation THEN
            RAISE WARNING '%: records of one company share an external_id; created a plain index instead of a unique one', t;
            EXECUTE format(
                'CREATE INDEX %I ON %I (company_id, external_id) WHERE external_id IS NOT NULL',
                'idx_' || t || '_external_id', t);
        END;
    END LOOP;
END $$;

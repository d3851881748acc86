-- Tenant isolation in depth: row-level security on every tenant table, forced (the owner is
-- bound too), in addition to the explicit company predicates of every query.
--
-- The service's role (crmio_app: neither owner nor BYPASSRLS) sets the company per transaction
-- with set_config('crmio.company_id', $1, true) (a bound parameter; it ends with the transaction).
-- A session without it sees no rows and can write none. The owner role, which runs migrations and
-- the cross-company tasks, is created BYPASSRLS by `crmio stack up` (or the operator).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'crmio_app') THEN
        RAISE EXCEPTION 'role crmio_app is missing: `crmio stack up` creates it; elsewhere create it as '
                        'LOGIN NOSUPERUSER NOBYPASSRLS and run the migrations again';
    END IF;
END $$;

GRANT USAGE ON SCHEMA public TO crmio_app;

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY[
        'crm_import_export_jobs', 'crm_import_export_logs', 'crm_data_templates', 'crm_leads',
        'crm_contacts', 'crm_accounts', 'crm_import_ledger', 'crm_api_keys', 'crm_uploads',
        'crm_mapping_memory', 'crm_company_settings', 'crm_schedules', 'crm_retention_runs'
    ] LOOP
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO crmio_app', t);
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY tenant_isolation ON %I '
            'USING (company_id = NULLIF(current_setting(''crmio.company_id'', true), '''')::uuid) '
            'WITH CHECK (company_id = NULLIF(current_setting(''crmio.company_id'', true), '''')::uuid)', t);
    END LOOP;
END $$;

GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO crmio_app;
-- The app never reads the migrations table or the maintenance rows (system tasks only).

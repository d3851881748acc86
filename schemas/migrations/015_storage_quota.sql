-- Issue 17: a storage quota per company (an upload copied by every job became N copies through N
-- cheap dry runs). Every file crmio keeps in a company's storage has one row here with its size, so a
-- company's usage is one indexed sum, and each file counts once however many jobs and uploads name
-- it: a job made from an upload names the upload's file instead of copying it. Retention deletes a
-- file (and its row) only when no job or upload that is kept still names it.
CREATE TABLE crm_stored_files (
    company_id  uuid NOT NULL,
    -- relative to the company's storage folder, as crm_uploads.stored_path and the jobs' file_path name it
    path        text NOT NULL,
    -- NULL until measured: export outputs (registered by the trigger below when the job names them)
    -- and files stored before this migration are measured (one stat) when the usage is next counted
    size_bytes  bigint CHECK (size_bytes >= 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, path)
);
CREATE INDEX idx_stored_files_unmeasured ON crm_stored_files (company_id) WHERE size_bytes IS NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON crm_stored_files TO crmio_app;
ALTER TABLE crm_stored_files ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm_stored_files FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON crm_stored_files
    USING (company_id = NULLIF(current_setting('crmio.company_id', true), '')::uuid)
    WITH CHECK (company_id = NULLIF(current_setting('crmio.company_id', true), '')::uuid);

-- The quota, overridable per company like the other limits (`crmio limits set --max-storage-bytes`).
ALTER TABLE crm_company_settings ADD COLUMN max_storage_bytes bigint CHECK (max_storage_bytes > 0);

-- Whatever writes a job row (the API, the CLI, a schedule, another system's Kafka request, an export
-- naming its output), the file it names is registered; a size given by the code that stored it wins.
-- A rollback job names its import's file without owning it: not registered, not a reference.
CREATE FUNCTION crm_register_job_file() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.job_type IN ('import', 'export') AND NEW.file_path <> '' THEN
        INSERT INTO crm_stored_files (company_id, path) VALUES (NEW.company_id, NEW.file_path)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER trg_jobs_register_file AFTER INSERT OR UPDATE OF file_path ON crm_import_export_jobs
    FOR EACH ROW EXECUTE FUNCTION crm_register_job_file();

-- What is stored already: uploads with the size they were received with, job files to be measured.
INSERT INTO crm_stored_files (company_id, path, size_bytes, created_at)
SELECT company_id, stored_path, size_bytes, created_at FROM crm_uploads
ON CONFLICT DO NOTHING;
INSERT INTO crm_stored_files (company_id, path, created_at)
SELECT company_id, file_path, min(created_at) FROM crm_import_export_jobs
WHERE job_type IN ('import', 'export') AND file_path <> ''
GROUP BY company_id, file_path
ON CONFLICT DO NOTHING;

-- Retention asks, for each file it would delete, whether a kept job or upload still names it.
CREATE INDEX idx_jobs_company_file ON crm_import_export_jobs (company_id, file_path) WHERE file_path <> '';
CREATE INDEX idx_uploads_company_path ON crm_uploads (company_id, stored_path);

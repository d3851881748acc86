-- Job control: admission (per-company limits), rollback jobs, schedules and retention.

-- A rollback is a job of its own, with progress and logs.
ALTER TABLE crm_import_export_jobs DROP CONSTRAINT crm_import_export_jobs_job_type_check;
ALTER TABLE crm_import_export_jobs
    ADD CONSTRAINT crm_import_export_jobs_job_type_check CHECK (job_type IN ('import', 'export', 'rollback'));
-- When admission let the job start (it then counts against its company's running limit).
ALTER TABLE crm_import_export_jobs ADD COLUMN admitted_at timestamptz;
-- Admission reads the queue oldest first and counts running jobs per company on every pass.
CREATE INDEX idx_jobs_pending_fifo ON crm_import_export_jobs (created_at, id) WHERE job_status = 'pending';
CREATE INDEX idx_jobs_running_company ON crm_import_export_jobs (company_id) WHERE job_status = 'running';

-- Per-company overrides of the limits and retention in services.settings (NULL = the default).
CREATE TABLE crm_company_settings (
    company_id           uuid PRIMARY KEY,
    max_running_jobs     integer CHECK (max_running_jobs > 0),
    max_file_bytes       bigint CHECK (max_file_bytes > 0),
    max_rows             integer CHECK (max_rows > 0),
    job_retention_days   integer CHECK (job_retention_days > 0),
    file_retention_days  integer CHECK (file_retention_days > 0),
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- The rollback job that reverted a ledger row: a second rollback finds nothing left to revert.
ALTER TABLE crm_import_ledger ADD COLUMN rolled_back_by uuid;

CREATE TABLE crm_schedules (
    id              uuid PRIMARY KEY,
    company_id      uuid NOT NULL,
    name            text NOT NULL,
    cron            text NOT NULL,
    timezone        text NOT NULL,
    job_definition  jsonb NOT NULL,
    is_active       boolean NOT NULL DEFAULT true,
    next_run_at     timestamptz,
    last_run_at     timestamptz,
    last_job_ids    jsonb NOT NULL DEFAULT '[]'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_schedules_company ON crm_schedules (company_id, name);
CREATE INDEX idx_schedules_due ON crm_schedules (next_run_at) WHERE is_active;

-- What each retention run purged, per company.
CREATE TABLE crm_retention_runs (
    id            bigserial PRIMARY KEY,
    company_id    uuid NOT NULL,
    ran_at        timestamptz NOT NULL DEFAULT now(),
    as_of         timestamptz NOT NULL,
    jobs_purged   integer NOT NULL,
    logs_purged   integer NOT NULL,
    files_purged  integer NOT NULL,
    bytes_purged  bigint NOT NULL,
    uploads_purged integer NOT NULL
);
CREATE INDEX idx_retention_runs_company ON crm_retention_runs (company_id, ran_at);

-- Once-a-day tasks shared by every worker: the row lock decides which worker runs it.
CREATE TABLE crm_maintenance (
    task         text PRIMARY KEY,
    last_run_at  timestamptz
);
INSERT INTO crm_maintenance (task) VALUES ('retention');

CREATE INDEX idx_logs_company_created ON crm_import_export_logs (company_id, created_at);
CREATE INDEX idx_jobs_company_completed ON crm_import_export_jobs (company_id, completed_at);

-- A 'stop after N errors' policy counts the job's failed rows in every apply transaction: this
-- index holds only failed rows, so the count reads at most N entries however large the job.
CREATE INDEX idx_ledger_failed ON crm_import_ledger (job_id) WHERE outcome = 'failed';

-- The deployment (its Kafka topic prefix) whose workers run the job: admission counts and starts
-- only its own deployment's jobs, so deployments (or test sessions) sharing a database never run
-- each other's jobs with the wrong topics and storage.
ALTER TABLE crm_import_export_jobs ADD COLUMN queue text NOT NULL DEFAULT 'crm';
DROP INDEX idx_jobs_pending_fifo;
CREATE INDEX idx_jobs_pending_fifo ON crm_import_export_jobs (queue, created_at, id) WHERE job_status = 'pending';

-- Result files (services/result_files) page through a job's error and warning logs in row order:
-- this partial index serves each page directly instead of sorting every issue of the job per page.
-- Info logs (most of a big job's logs, if any) are left out, so imports pay only for issue rows.
CREATE INDEX IF NOT EXISTS idx_logs_job_row_issues ON crm_import_export_logs (job_id, record_number, id)
    WHERE log_level IN ('error', 'warning') AND record_number IS NOT NULL;

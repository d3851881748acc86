-- Dry-run imports write no CRM record, so later batches of the same file cannot find the rows
-- created "virtually" before them in the CRM tables: the ledger keeps their match keys instead.
ALTER TABLE crm_import_ledger ADD COLUMN match_key text;
CREATE INDEX idx_ledger_dry_run_keys ON crm_import_ledger (job_id, match_key) WHERE match_key IS NOT NULL;

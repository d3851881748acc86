-- A running job's runner (an import's split, an export, a rollback) touches heartbeat_at every few
-- seconds. Runners work in the background of a worker, so a job whose runner died (its worker killed,
-- or frozen past the stall time) is found by its stale heartbeat and started again.
ALTER TABLE crm_import_export_jobs ADD COLUMN heartbeat_at timestamptz;

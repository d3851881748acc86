-- A schedule belongs to the deployment (topic prefix) that created it, like its jobs: only that
-- deployment's workers fire it, with their own storage and topics.
ALTER TABLE crm_schedules ADD COLUMN queue text NOT NULL DEFAULT 'crm';
DROP INDEX idx_schedules_due;
CREATE INDEX idx_schedules_due ON crm_schedules (queue, next_run_at) WHERE is_active;

-- A schedule whose slot fails for a reason of its own (issue 17: a dropped file whose name is not
-- UTF-8 rolled back every company's schedules, again every second) is skipped to its next slot;
-- the error stays on the schedule for its owner to read.
ALTER TABLE crm_schedules
    ADD COLUMN last_error text,
    ADD COLUMN last_error_at timestamptz,
    ADD COLUMN failures integer NOT NULL DEFAULT 0;

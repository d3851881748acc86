-- Issue 19 item 5: Idempotency-Key on the API's creating POSTs (services/api/idempotency.py).
--
-- One row per key a company sent: what the request was (its fingerprint), then, once answered, the
-- first answer (status, body, Location) that a repeat of the same request gets again without doing
-- it twice. status IS NULL while the first request is still being answered. Keys are scoped per
-- company (the key space is the company's, whichever of its API keys sends it) and expire after
-- idempotency_key_retention_s; expired rows are deleted as the company sends new keys.
CREATE TABLE crm_idempotency_keys (
    company_id      uuid NOT NULL,
    idempotency_key text NOT NULL,
    method          text NOT NULL,
    path            text NOT NULL,
    fingerprint     text NOT NULL,
    status          integer,
    body            bytea,
    media_type      text,
    location        text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (company_id, idempotency_key)
);
CREATE INDEX crm_idempotency_keys_age ON crm_idempotency_keys (company_id, created_at);

GRANT SELECT, INSERT, UPDATE, DELETE ON crm_idempotency_keys TO crmio_app;
ALTER TABLE crm_idempotency_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE crm_idempotency_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON crm_idempotency_keys
    USING (company_id = NULLIF(current_setting('crmio.company_id', true), '')::uuid)
    WITH CHECK (company_id = NULLIF(current_setting('crmio.company_id', true), '')::uuid);

-- The HTTP API: API keys (stored hashed), the upload registry, and the per-company mapping memory.

CREATE TABLE crm_api_keys (
    id          uuid PRIMARY KEY,
    company_id  uuid NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'member')),
    -- sha256 (hex) of a 256-bit random key: the key itself is shown once and never stored.
    key_hash    text NOT NULL UNIQUE,
    label       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX idx_api_keys_company ON crm_api_keys (company_id);

CREATE TABLE crm_uploads (
    id                 uuid PRIMARY KEY,
    company_id         uuid NOT NULL,
    original_filename  text NOT NULL,
    stored_path        text NOT NULL,
    file_format        text NOT NULL CHECK (file_format IN ('csv', 'excel', 'json')),
    size_bytes         bigint NOT NULL,
    encoding           text,
    delimiter          text,
    sheet              text,
    sheet_names        jsonb NOT NULL DEFAULT '[]'::jsonb,
    headers            jsonb NOT NULL DEFAULT '[]'::jsonb,
    row_estimate       bigint,
    row_estimate_exact boolean NOT NULL DEFAULT false,
    created_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_uploads_company_created ON crm_uploads (company_id, created_at);

-- header_key is services.mapping.normalize_header(header): "E-Mail " and "email" share one memory.
CREATE TABLE crm_mapping_memory (
    company_id    uuid NOT NULL,
    target_model  text NOT NULL CHECK (target_model IN ('lead', 'contact', 'account')),
    header_key    text NOT NULL,
    field         text NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (company_id, target_model, header_key)
);

-- The job dashboard lists a company's jobs newest first; server-sent events poll by updated_at.
CREATE INDEX idx_jobs_company_created ON crm_import_export_jobs (company_id, created_at DESC);
CREATE INDEX idx_jobs_company_updated ON crm_import_export_jobs (company_id, updated_at);

-- crmio initial schema: the blueprint's three tables (names, columns and choices kept), the CRM
-- record tables, and the apply ledger that makes every record write idempotent and reversible.

CREATE TABLE crm_import_export_jobs (
    id                  uuid PRIMARY KEY,
    company_id          uuid NOT NULL,
    job_type            text NOT NULL CHECK (job_type IN ('import', 'export')),
    job_status          text NOT NULL DEFAULT 'pending'
                        CHECK (job_status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    target_model        text NOT NULL CHECK (target_model IN ('lead', 'contact', 'account')),
    file_format         text NOT NULL CHECK (file_format IN ('csv', 'excel', 'json', 'pdf')),
    file_path           text NOT NULL,
    total_records       integer NOT NULL DEFAULT 0,
    processed_records   integer NOT NULL DEFAULT 0,
    success_records     integer NOT NULL DEFAULT 0,
    error_records       integer NOT NULL DEFAULT 0,
    field_mapping       jsonb,
    validation_rules    jsonb,
    duplicate_handling  text NOT NULL DEFAULT 'skip' CHECK (duplicate_handling IN ('skip', 'update', 'create_new')),
    created_by_user_id  uuid,
    created_at          timestamptz NOT NULL DEFAULT now(),
    started_at          timestamptz,
    completed_at        timestamptz,
    -- beyond the blueprint: what the flow needs
    original_filename   text,
    options             jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_records     integer NOT NULL DEFAULT 0,
    updated_records     integer NOT NULL DEFAULT 0,
    skipped_records     integer NOT NULL DEFAULT 0,
    message             text,
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_company_job_type ON crm_import_export_jobs (company_id, job_type);
CREATE INDEX idx_status_created ON crm_import_export_jobs (job_status, created_at);
CREATE INDEX idx_target_model ON crm_import_export_jobs (target_model);

CREATE TABLE crm_import_export_logs (
    id             bigserial PRIMARY KEY,
    job_id         uuid NOT NULL REFERENCES crm_import_export_jobs (id) ON DELETE CASCADE,
    record_number  integer,
    log_level      text NOT NULL CHECK (log_level IN ('info', 'warning', 'error')),
    message        text NOT NULL,
    record_data    jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    -- beyond the blueprint: tenant column (row-level security) and the offending field
    company_id     uuid NOT NULL,
    field          text
);
CREATE INDEX idx_crm_import_export_logs_job_id ON crm_import_export_logs (job_id);
CREATE INDEX idx_job_log_level ON crm_import_export_logs (job_id, log_level);

CREATE TABLE crm_data_templates (
    id                uuid PRIMARY KEY,
    company_id        uuid NOT NULL,
    template_name     text NOT NULL,
    target_model      text NOT NULL CHECK (target_model IN ('lead', 'contact', 'account')),
    template_type     text NOT NULL CHECK (template_type IN ('import', 'export')),
    field_mapping     jsonb NOT NULL DEFAULT '{}'::jsonb,
    validation_rules  jsonb NOT NULL DEFAULT '{}'::jsonb,
    is_active         boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (company_id, template_name)
);
CREATE INDEX idx_templates_company ON crm_data_templates (company_id, template_type);

-- CRM record tables: one column per field of schemas/models.py, plus the normalized
-- duplicate-match key and a version that rollback uses to detect later edits.
CREATE TABLE crm_leads (
    id                   uuid PRIMARY KEY,
    company_id           uuid NOT NULL,
    match_key            text,
    first_name           text,
    last_name            text,
    email                text,
    phone                text,
    mobile_phone         text,
    company              text,
    title                text,
    lead_source          text,
    status               text,
    industry             text,
    annual_revenue       numeric(18,2),
    number_of_employees  bigint,
    website              text,
    city                 text,
    country              text,
    converted_date       date,
    description          text,
    external_id          text,
    version              bigint NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_crm_leads_match ON crm_leads (company_id, match_key);

CREATE TABLE crm_contacts (
    id               uuid PRIMARY KEY,
    company_id       uuid NOT NULL,
    match_key        text,
    first_name       text,
    last_name        text,
    email            text,
    phone            text,
    mobile_phone     text,
    title            text,
    department       text,
    account          text,
    birthdate        date,
    lead_source      text,
    mailing_city     text,
    mailing_country  text,
    do_not_call      boolean,
    description      text,
    external_id      text,
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_crm_contacts_match ON crm_contacts (company_id, match_key);

CREATE TABLE crm_accounts (
    id               uuid PRIMARY KEY,
    company_id       uuid NOT NULL,
    match_key        text,
    name             text,
    website          text,
    industry         text,
    type             text,
    employees        bigint,
    annual_revenue   numeric(18,2),
    phone            text,
    billing_city     text,
    billing_country  text,
    founded_date     date,
    description      text,
    external_id      text,
    version          bigint NOT NULL DEFAULT 1,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idx_crm_accounts_match ON crm_accounts (company_id, match_key);

-- One row per processed record of an import, written in the same transaction as the record
-- itself: a replayed event finds its rows here and changes nothing; counters are recounted
-- from here; rollback reads record_id and before_image. No foreign key to the job: a
-- per-row RI check doubled the cost of writing it; retention deletes ledger rows with their job.
CREATE TABLE crm_import_ledger (
    job_id          uuid NOT NULL,
    record_number   integer NOT NULL,
    company_id      uuid NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('created', 'updated', 'skipped', 'failed')),
    record_id       uuid,
    before_image    jsonb,
    after_version   bigint,
    PRIMARY KEY (job_id, record_number)
);

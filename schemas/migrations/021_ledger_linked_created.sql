-- The accounts a contacts import created (crm_import_ledger.linked_created, 018_account_links.sql), found by the
-- import's later batches that complete them (services/apply/account_links.py) and by its rollback. Few ledger
-- rows hold one, so the index is small; without it each lookup walked the import's whole ledger.
CREATE INDEX IF NOT EXISTS idx_ledger_linked_created ON crm_import_ledger (job_id, linked_created)
    WHERE linked_created IS NOT NULL;

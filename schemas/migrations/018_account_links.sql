-- Issue 18: a contact linked to its account. A contacts import finds each row's account by the account's
-- external_id, domain or name, or creates it from the row's account columns (services/apply/account_links.py).
--
-- No foreign key: its check on every contact written would cost the import as the ledger's would
-- (001_initial.sql); a rollback that removes an account clears the links to it in the same transaction,
-- and an export reads a link to a record that is gone as no account (LEFT JOIN).
ALTER TABLE crm_contacts ADD COLUMN account_id uuid;
CREATE INDEX idx_crm_contacts_account ON crm_contacts (company_id, account_id) WHERE account_id IS NOT NULL;

-- Accounts found by name the way services/apply/account_links.py keys them: case and runs of white space ignored.
CREATE INDEX idx_crm_accounts_name_key ON crm_accounts (company_id, lower(regexp_replace(name, '\s+', ' ', 'g')));

-- The account a contacts import's row created, removed again by the import's rollback.
ALTER TABLE crm_import_ledger ADD COLUMN linked_created uuid;

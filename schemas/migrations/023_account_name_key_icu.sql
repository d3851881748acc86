-- Accounts found by name ignore case in every script, not in ASCII only. lower() and the regex's \s follow the
-- database's collation; a cluster made with the C locale (the local stack's, many managed servers') lowers
-- only A-Z, so "Électricité de France" never matched the name services/apply/account_links.py keys with
-- Python's str.lower(), and each contacts import created the account again. ICU's root collation lowers and
-- splits on white space as Python does, whatever the database's own locale.
DROP INDEX IF EXISTS idx_crm_accounts_name_key;
CREATE INDEX idx_crm_accounts_name_key
    ON crm_accounts (company_id, lower(regexp_replace(name COLLATE "und-x-icu", '\s+', ' ', 'g')));

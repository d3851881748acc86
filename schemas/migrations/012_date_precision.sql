-- Dates known only to the year or the month (issue 12 item 4).
--
-- A date column holds the first day of the period ("1990" -> 1990-01-01, "2024-03" -> 2024-03-01),
-- so sorting, filtering and ranges keep working on a real date. Each record says which of its date
-- fields are partial: date_precision maps a field name to 'year' or 'month'; a field absent from it
-- (or a NULL column) is a full date. A system column like match_key and version: the import writes
-- it with the record, a later full date for a field removes the field's entry, rollback restores it
-- from the before-image, and exports write a partial date as "1990" / "2024-03".
ALTER TABLE crm_leads ADD COLUMN date_precision jsonb CHECK (jsonb_typeof(date_precision) = 'object');
ALTER TABLE crm_contacts ADD COLUMN date_precision jsonb CHECK (jsonb_typeof(date_precision) = 'object');
ALTER TABLE crm_accounts ADD COLUMN date_precision jsonb CHECK (jsonb_typeof(date_precision) = 'object');

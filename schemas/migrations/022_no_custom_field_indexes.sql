-- Custom fields lose the expression index each had, partial on its company (cf_<table>_<digest>, made when the
-- field was created). PostgreSQL tests every index's predicate on every row written to the table, whichever
-- company wrote it, so each company that indexed a field made every other company's imports slower: 0.03 us a
-- row per index (bench/bench_index_cost.py; 1,000 such indexes took an 8,000-lead insert from 6 to 40 us a
-- row), growing with the number of tenants. An export filtered and sorted on a custom field reads its
-- company's rows by (company_id, id) instead: 43 ms against 33 ms for a 20,000-lead company.
DO $$
DECLARE
    idx record;
BEGIN
    FOR idx IN
        SELECT schemaname, indexname FROM pg_indexes
        WHERE schemaname = current_schema()
          AND tablename IN ('crm_leads', 'crm_contacts', 'crm_accounts')
          AND indexname LIKE 'cf\_%'
    LOOP
        EXECUTE format('DROP INDEX %I.%I', idx.schemaname, idx.indexname);
    END LOOP;
END $$;

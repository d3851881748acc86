"""Records applied: one transaction per batch (duplicates, records, ledger, logs), in partition order."""

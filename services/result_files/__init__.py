"""Result files of an import, like Salesforce's: a success file (one line per row that landed) and an
error file (every failed or warned row with all of its original columns and what is wrong), each as
CSV or .xlsx with the offending cells highlighted. See docs/results.md.

- ``issues``: a row's issue logs -> the issue columns and the cells to highlight (pure);
- ``source``: re-reads the job's stored file with the import's reader options, picking rows by number;
- ``writers``: streaming CSV text and write-only .xlsx with fills and comments;
- ``build``: puts them together for the API and the CLI, reading the ledger's and the issue logs'
  pages (services.jobs.ledger_repository, log_repository) by keyset, each page one short tenant
  transaction, so a 1M-row file never holds a connection or a transaction open while it is written;
- ``corrected``: reads a corrected error file back for a retry, keeping the original row numbers.
"""

from services.result_files.build import FORMATS, KINDS, ResultFile, open_result

__all__ = ["KINDS", "FORMATS", "ResultFile", "open_result"]

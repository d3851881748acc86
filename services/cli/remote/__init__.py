"""The remote CLI: with CRMIO_API_URL and CRMIO_API_KEY set, a company user's `crmio` commands go through the HTTP API."""

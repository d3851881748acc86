"""Each company's own data model: custom fields on leads, contacts and accounts (issue 18)."""

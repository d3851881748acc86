"""The `crmio` command."""

"""Business logic and adapters of crmio; nothing here imports faust."""

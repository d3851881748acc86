"""The local development stack (Kafka broker and PostgreSQL on this machine): a tool for developers and CI, not part of the product."""

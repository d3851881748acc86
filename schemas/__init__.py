"""Data contracts of crmio, free of I/O: Avro schemas, the CRM target models, SQL migrations, topics."""

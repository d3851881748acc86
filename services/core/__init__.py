"""What every stage shares: settings, error types, the database pool, file storage, the Kafka producer, partition routing."""

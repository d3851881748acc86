-- The next offset to apply of each record partition, advanced after every applied batch. Kafka's
-- committed offset only says where reading starts; this row says which event may be applied next,
-- so an event that arrives after a later one of its partition was skipped (around a rebalance) is
-- noticed and read again instead of being applied out of order or lost. Infrastructure, not tenant
-- data: written by the worker's system connection.
CREATE TABLE crm_record_offsets (
    topic       text    NOT NULL,
    partition   integer NOT NULL,
    next_offset bigint  NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (topic, partition)
);

-- Job requests are guarded like record batches (services/partition_order.py): the table holds the
-- next offset to handle of every guarded topic's partitions, not only the records topic's.
ALTER TABLE crm_record_offsets RENAME TO crm_partition_offsets;
ALTER TABLE crm_partition_offsets RENAME CONSTRAINT crm_record_offsets_pkey TO crm_partition_offsets_pkey;

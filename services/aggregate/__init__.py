"""Results aggregated: counters per job, status events, the end of a job."""

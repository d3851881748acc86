"""Cleansing and validation of mapped rows: cleaners per field type, job rules, company picklists and value maps."""

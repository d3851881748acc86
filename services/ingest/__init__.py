"""Files in: uploads, the content check, readers per format, column mapping, and the split of a file into record events."""

"""The company's records as people read them: lists with search, one record with its fields and links."""

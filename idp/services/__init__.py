"""Use cases: the only layer (with models) that queries the database or the store."""

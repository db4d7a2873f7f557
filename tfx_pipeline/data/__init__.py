"""Data in: a raw CSV cleaned into a span (ingest, cleaning, spans), and the curated schema's review."""

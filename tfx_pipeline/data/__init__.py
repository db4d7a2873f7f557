"""Data in: a raw CSV cleaned into a span, and the curated schema's review.

encodings (bytes to text), parsing (the CSV's shape), cleaning (texts, duplicates), ingest (labels, repeats, splits,
the span), spans (the layout), history (which spans passed validation, from ML Metadata), problems (how bad data is
named); schema_proposal. docs/data.md lists what is accepted and where each kind of bad data stops.
"""

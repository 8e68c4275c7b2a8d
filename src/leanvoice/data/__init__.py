"""Datasets: ingest sources, prepare clips and a manifest, and (later) batches."""

"""Readers and writers of the talking-head field's formats (same code for the embedded corpus and real data)."""

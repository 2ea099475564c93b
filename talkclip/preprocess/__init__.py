"""Preprocessing: media + 3DMM coefficients + transcripts -> the processed dataset."""

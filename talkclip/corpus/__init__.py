"""The embedded corpus: a generated stand-in for MEAD and HDTF in their own layouts."""

"""Extract: clean text and metadata from a fetched page, in bounded worker processes."""

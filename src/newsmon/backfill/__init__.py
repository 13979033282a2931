"""Backfill: older articles of a site (sitemaps, feed archives), and re-tagging."""

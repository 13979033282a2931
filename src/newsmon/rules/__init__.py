"""Rules: the query language, and what an article is about (topics, alert matches)."""

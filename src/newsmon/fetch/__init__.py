"""Fetch: feeds and article pages from the network, politely and safely."""

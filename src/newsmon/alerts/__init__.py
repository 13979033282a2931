"""Alerts: from the outbox to a message people read, paced per channel."""

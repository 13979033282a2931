"""newsmon: a news-monitoring pipeline (core package; never imports Prefect)."""

__version__ = "0.1.0"

"""The only code that reads and writes the database, one module per stage it serves.

Writes are idempotent upserts: uniqueness comes from constraints (one article per canonical URL,
one alert per rule and cluster), so overlapping runs, or a run retried after a crash, never store
anything twice. Decisions are not made here: each module reads what a pure function needs, calls
it, and writes its answer (`newsmon.fetch.schedule`, `newsmon.stories.copies`,
`newsmon.stories.assign`).

- `sources`: source rows, the outcome of each poll, health (`newsmon sources`).
- `queue`: the entry queue: new entries, a run's share, failed pages.
- `articles`: storing a batch (article, copy cluster, story, bands, topics, alerts).
- `clusters`: copy-cluster candidates, and clusters read back.
- `stories`: stories: candidates, assignment, merges, update messages, exports.
- `outbox`: alerts and their deliveries, messages sent (pacing).
- `archive`: the archive read for backtests, and every export.
- `reports`: counts for people and a run's digest.
- `backfill`: backfill progress, the window's articles, re-tagging.
- `leases`, `page_claims`: one holder at a time (alert delivery; each queued page).
- `dialect`: plumbing (the engine's upsert, IN-list chunks, clean values).
- `models`, `db`, `migrations/`: the tables, the engine, the schema's history.

Import from the module that owns a name: this package re-exports nothing.
"""

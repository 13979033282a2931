"""The config files of a config folder: sources.yaml, topics.yaml, alerts.yaml.

`models` says what one entry of each file may hold (pydantic models, validated key by key);
`loading` reads a folder and refuses it whole, listing every problem with file, entry and reason.
Process-wide settings from the environment are `newsmon.settings`, not here.
"""

"""The parameter forms the Prefect UI shows for newsmon's deployments ("Run > Custom run").

Prefect derives a form from the flow's signature; as derived it showed a raw `type | None` toggle
for every optional field ("Property is type None"), a date picker typing mm/dd/yyyy under text
saying 2026-11-01, `sources` as free text (a typo only showed as a failed run), no description
for most ingest fields, and `config_dir`, a path on the server, editable in a UI without login.
`form_schema` rewrites the derived JSON schema: optional fields plain (left empty, the flow's
default applies), dates as YYYY-MM-DD text, `sources` a choice among the configured names, every
field described, `config_dir` gone (the serving process sets NEWSMON_CONFIG_DIR instead).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import Any

HIDDEN = ("config_dir",)
DAY_PATTERN = r"^\d{4}-\d{2}-\d{2}$"

DESCRIPTIONS: Mapping[str, Mapping[str, str]] = {
    "ingest": {
        "force": "Poll every enabled source now, due or not (off: only the sources that are due).",
        "sources": "Only these sources (empty: every enabled source that is due).",
        "deliver": "Send the alerts this run raises and those waiting for a retry (off: record "
        "them only; the next run sends them).",
        "shard": "K/N, e.g. 1/2: only shard K of N of the sources (by a stable hash of the "
        "name), for N workers sharing the sources. Empty: all sources.",
    },
    "backfill": {
        "since": "First day of the window, YYYY-MM-DD (UTC), e.g. 2026-11-01.",
        "until": "Last day of the window, included, YYYY-MM-DD (UTC). Empty: today.",
        "sources": "Only these sources (empty: every enabled source; reprocess: the stored "
        "articles of every source).",
    },
}


def form_schema(
    schema: Mapping[str, Any], flow: str, source_names: Sequence[str]
) -> dict[str, Any]:
    """The UI form's schema for `flow` ("ingest" or "backfill") from Prefect's derived one."""
    result = copy.deepcopy(dict(schema))
    properties: dict[str, Any] = result["properties"]
    for name in HIDDEN:
        properties.pop(name, None)
    result["required"] = [n for n in result.get("required", []) if n not in HIDDEN]
    for name, prop in properties.items():
        options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
        if len(options) == 1:  # `X | None`: plain X, left out of the run when empty
            prop.update(options[0])
            if prop.get("default", ...) is None:
                del prop["default"]
        if prop.get("format") == "date":
            del prop["format"]
            prop["pattern"] = DAY_PATTERN
        if name == "sources" and prop.get("type") == "array":
            prop["items"] = {"type": "string", "enum": list(source_names)}
            prop["uniqueItems"] = True
        described = DESCRIPTIONS.get(flow, {}).get(name)
        if described:
            prop["description"] = described
    return result

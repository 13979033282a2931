"""The Prefect UI's parameter forms as newsmon shapes them (issue 15)."""

from __future__ import annotations

from newsmon.flows.forms import DAY_PATTERN, form_schema

DERIVED = {
    "title": "Parameters",
    "type": "object",
    "properties": {
        "since": {"type": "string", "format": "date", "title": "since", "description": "x"},
        "until": {
            "anyOf": [{"type": "string", "format": "date"}, {"type": "null"}],
            "default": None,
            "title": "until",
        },
        "sources": {
            "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
            "default": None,
            "title": "sources",
        },
        "mode": {"type": "string", "enum": ["discover", "reprocess"], "default": "discover"},
        "config_dir": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
    },
    "required": ["since"],
    "definitions": {},
}


def test_the_backfill_form_has_plain_fields_named_sources_and_no_server_path() -> None:
    form = form_schema(DERIVED, "backfill", ["levant-wire", "sham-post"])
    props = form["properties"]
    assert "config_dir" not in props and form["required"] == ["since"]
    assert props["until"] == {
        "type": "string",
        "pattern": DAY_PATTERN,
        "title": "until",
        "description": "Last day of the window, included, YYYY-MM-DD (UTC). Empty: today.",
    }
    assert props["since"]["pattern"] == DAY_PATTERN and "format" not in props["since"]
    assert props["sources"]["items"] == {"type": "string", "enum": ["levant-wire", "sham-post"]}
    assert props["sources"]["uniqueItems"] is True and "default" not in props["sources"]
    assert props["mode"]["default"] == "discover"  # a real default stays
    assert DERIVED["properties"]["config_dir"]  # the input is not changed


def test_every_ingest_field_is_described() -> None:
    from prefect.utilities.callables import parameter_schema

    from newsmon.flows.ingest import ingest

    derived = parameter_schema(ingest).model_dump()
    form = form_schema(derived, "ingest", ["a"])
    assert {"force", "sources", "deliver", "shard"} <= set(form["properties"])
    assert "config_dir" not in form["properties"]
    for name, prop in form["properties"].items():
        assert prop.get("description"), name
        assert "anyOf" not in prop, name

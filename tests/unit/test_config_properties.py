"""Property tests: whatever the config files hold, loading either succeeds or raises ConfigError
naming the file — never another exception, never a hang."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsmon.config.loading import ConfigError, load_config

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(
        [
            "15m",
            "1h",
            "0s",
            "https://a.example/feed",
            "ftp://x",
            "en",
            "ar",
            "(",
            '"',
            "ISIS AND",
            "x" * 300,
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)
entry_keys = st.sampled_from(
    ["name", "url", "language", "poll_every", "enabled", "query", "notify", "extra"]
)
entries = st.lists(st.dictionaries(entry_keys, values, max_size=6), max_size=4)


def load(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        try:
            config = load_config(tmp)
        except ConfigError as err:
            assert err.problems and all(p.startswith(tmp) for p in err.problems), err.problems
        else:
            assert all(s.name for s in config.sources)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sources=entries, topics=entries, alerts=entries)
def test_structured_garbage_is_refused_cleanly(sources: Any, topics: Any, alerts: Any) -> None:
    load(
        {
            "sources.yaml": yaml.safe_dump({"sources": sources}, allow_unicode=True),
            "topics.yaml": yaml.safe_dump({"topics": topics}, allow_unicode=True),
            "alerts.yaml": yaml.safe_dump({"alerts": alerts}, allow_unicode=True),
        }
    )


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300), other=values)
def test_arbitrary_text_and_shapes_are_refused_cleanly(text: str, other: Any) -> None:
    load({"sources.yaml": text, "topics.yaml": yaml.safe_dump(other, allow_unicode=True)})


def test_yaml_bombs_are_refused_not_expanded() -> None:
    # Aliases nested ten deep would expand to 10^10 entries if a loader followed them blindly.
    bomb = "a: &a ['x','x','x','x','x','x','x','x','x','x']\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)},*{chr(97 + i)}]\n"
        for i in range(8)
    )
    load({"sources.yaml": bomb})

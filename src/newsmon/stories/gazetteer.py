"""Actors and places with their names in English and Arabic, matched in normalised text.

The packaged list (gazetteer.yaml beside this module) covers Iraq and Syria; a `gazetteer.yaml`
in the config folder adds entries or replaces them by id. The query language expands `alias:ID`
to an entry's names, and stories link articles naming the same entries across languages.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from newsmon.textnorm import arabic_variants, tokenize

PACKAGED = Path(__file__).with_name("gazetteer.yaml")
FILE_NAME = "gazetteer.yaml"
Kind = Literal["actor", "place", "country", "event"]
_ID = re.compile(r"^[a-z0-9][a-z0-9-]*$")
# Longest name, in words, that the matcher looks for (bounds the work per token).
MAX_NAME_WORDS = 8


class GazetteerError(ValueError):
    """An invalid gazetteer file: the message names the file, the entry and the reason."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One actor or place: its id, kind, names as written, and the larger place it lies in."""

    id: str
    kind: Kind
    names: tuple[str, ...]
    within: str | None = None


@dataclass(frozen=True, slots=True)
class Mention:
    """An entry named in a text, at a token position."""

    entry: str
    start: int  # index of the first token
    length: int  # tokens


@functools.lru_cache(maxsize=65536)
def _forms(token: str) -> tuple[str, ...]:
    """A normalised token and its Arabic forms without joined proclitics, stacked up to two deep
    ("وبالأنبار": wa- + bi-al- + Anbar)."""
    forms = [token]
    for variant in arabic_variants(token):
        for form in (variant, *arabic_variants(variant)):
            if form not in forms:
                forms.append(form)
    return tuple(forms)


class Gazetteer:
    """Entries by id, and a matcher from normalised word sequences to entry ids."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self.entries: dict[str, Entry] = {e.id: e for e in entries}
        # first word -> [(words, entry id)], longest names first so "Islamic State group" wins.
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for entry in self.entries.values():
            for name in entry.names:
                words = tuple(tokenize(name))
                if not words:
                    continue
                self._by_first.setdefault(words[0], []).append((words, entry.id))
        for names in self._by_first.values():
            names.sort(key=lambda item: -len(item[0]))

    def names(self, entry_id: str) -> tuple[str, ...]:
        """The names of an entry (KeyError if unknown)."""
        return self.entries[entry_id].names

    def parent(self, entry_id: str) -> str | None:
        entry = self.entries.get(entry_id)
        return entry.within if entry is not None else None

    def ancestors(self, entry_id: str) -> tuple[str, ...]:
        """The larger places an entry lies in, nearest first (cycles cut)."""
        found: list[str] = []
        current = self.parent(entry_id)
        while current is not None and current not in found and current != entry_id:
            found.append(current)
            current = self.parent(current)
        return tuple(found)

    def find(self, tokens: Sequence[str]) -> list[Mention]:
        """Entries named in normalised `tokens` (textnorm.tokenize), leftmost-longest, no overlaps."""
        mentions: list[Mention] = []
        i = 0
        while i < len(tokens):
            matched = self._match_at(tokens, i)
            if matched is None:
                i += 1
                continue
            length, entry_id = matched
            mentions.append(Mention(entry_id, i, length))
            i += length
        return mentions

    def _match_at(self, tokens: Sequence[str], i: int) -> tuple[int, str] | None:
        for first in _forms(tokens[i]):
            for words, entry_id in self._by_first.get(first, ()):
                n = len(words)
                if n > MAX_NAME_WORDS or i + n > len(tokens):
                    continue
                # Later words may carry a joined proclitic too ("قوات وحرس الحدود" is rare, but
                # "الدولة الإسلامية" is written "للدولة الإسلامية": the first word varies most).
                if all(words[k] in _forms(tokens[i + k]) for k in range(1, n)):
                    return n, entry_id
        return None


def parse_entries(raw: Any, *, where: str) -> list[Entry]:
    """Entries from a loaded YAML document; GazetteerError names `where` and the entry."""
    if not isinstance(raw, Mapping) or not isinstance(raw.get("entries"), list):
        raise GazetteerError(f"{where}: expected a mapping with a list under 'entries'")
    entries = []
    for n, item in enumerate(raw["entries"], start=1):
        label = f"{where}: entry {n}"
        if not isinstance(item, Mapping):
            raise GazetteerError(f"{label}: expected a mapping with id, kind and names")
        entry_id, kind, names = item.get("id"), item.get("kind"), item.get("names")
        if not isinstance(entry_id, str) or not _ID.match(entry_id):
            raise GazetteerError(f"{label}: id must be [a-z0-9-], got {entry_id!r}")
        label = f"{where}: entry {entry_id!r}"
        if kind not in ("actor", "place", "country", "event"):
            raise GazetteerError(
                f"{label}: kind must be actor, place, country or event, got {kind!r}"
            )
        if not isinstance(names, list) or not names or not all(isinstance(x, str) for x in names):
            raise GazetteerError(f"{label}: names must be a non-empty list of strings")
        within = item.get("within")
        if within is not None and not isinstance(within, str):
            raise GazetteerError(f"{label}: within must be an entry id")
        unknown = set(item) - {"id", "kind", "names", "within"}
        if unknown:
            raise GazetteerError(f"{label}: unknown field(s) {sorted(unknown)}")
        entries.append(Entry(entry_id, kind, tuple(names), within))
    return entries


def _read(path: Path) -> list[Entry]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GazetteerError(f"{path}: cannot read: {exc}") from exc
    return parse_entries(raw, where=str(path))


def load_gazetteer(config_dir: Path | None = None) -> Gazetteer:
    """The packaged gazetteer, with `<config_dir>/gazetteer.yaml` (if present) layered over it."""
    extra = config_dir / FILE_NAME if config_dir is not None else None
    if extra is not None and extra.is_file():
        return _layered(str(extra), extra.stat().st_mtime_ns)
    return packaged_gazetteer()


@functools.cache
def packaged_gazetteer() -> Gazetteer:
    return Gazetteer(_read(PACKAGED))


@functools.lru_cache(maxsize=4)
def _layered(path: str, _mtime: int) -> Gazetteer:
    entries = {e.id: e for e in _read(PACKAGED)}
    entries.update({e.id: e for e in _read(Path(path))})
    gazetteer = Gazetteer(entries.values())
    for entry in gazetteer.entries.values():
        if entry.within is not None and entry.within not in gazetteer.entries:
            raise GazetteerError(
                f"{path}: entry {entry.id!r}: within names unknown {entry.within!r}"
            )
    return gazetteer

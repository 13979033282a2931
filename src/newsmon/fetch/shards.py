"""Shards of the sources: "K/N" takes the sources whose stable hash of the name, mod N, is K-1.

Several ingest workers each take one shard, so every source is polled by exactly one of them. The
hash is SHA-256 of the name (not Python's `hash`, which changes per process), so every worker
and every run agree on the partition without talking to each other.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

_SHARD = re.compile(r"^\s*(\d{1,4})\s*/\s*(\d{1,4})\s*$")


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard `index` (1-based) of `count`."""

    index: int
    count: int

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def contains(self, source: str) -> bool:
        """Whether the source named `source` belongs to this shard."""
        return shard_number(source, self.count) == self.index

    def select(self, names: Iterable[str]) -> list[str]:
        """The names in this shard, in the order given."""
        return [name for name in names if self.contains(name)]


def shard_number(source: str, count: int) -> int:
    """The shard (1..count) that the source named `source` falls in."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % count + 1


def parse_shard(text: str) -> Shard:
    """'2/3' -> Shard(2, 3); a clear ValueError for anything else."""
    match = _SHARD.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"invalid shard {text!r}: use K/N, e.g. 1/3 for the first of three shards")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 1 <= index <= count:
        raise ValueError(
            f"invalid shard {text!r}: K/N needs 1 <= K <= N (shards are numbered from 1)"
        )
    return Shard(index, count)

"""Shards partition the sources, stably across processes, and bad shard strings are explained."""

from __future__ import annotations

import subprocess
import sys

import pytest

from newsmon.fetch.shards import Shard, parse_shard, shard_number

NAMES = [f"source-{i}" for i in range(200)]


@pytest.mark.parametrize("count", [1, 2, 3, 7])
def test_shards_partition_the_sources(count: int) -> None:
    shards = [parse_shard(f"{k}/{count}") for k in range(1, count + 1)]
    parts = [set(shard.select(NAMES)) for shard in shards]
    assert set().union(*parts) == set(NAMES)
    assert sum(len(p) for p in parts) == len(NAMES)  # disjoint
    assert all(len(p) > len(NAMES) / count / 2 for p in parts)  # roughly even


def test_shard_of_a_name_is_the_same_in_another_process() -> None:
    """Not Python's per-process hash(): every worker must agree without talking to the others."""
    code = "from newsmon.fetch.shards import shard_number; print([shard_number(f'source-{i}', 5) for i in range(50)])"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == str([shard_number(f"source-{i}", 5) for i in range(50)])


def test_parse_shard() -> None:
    assert parse_shard("2/3") == Shard(2, 3) and str(parse_shard(" 1 / 4 ")) == "1/4"
    assert parse_shard("1/1").select(["a", "b"]) == ["a", "b"]
    for bad, reason in (
        ("3/2", "1 <= K <= N"),
        ("0/2", "1 <= K <= N"),
        ("1/0", "1 <= K <= N"),
        ("1-2", "use K/N"),
        ("", "use K/N"),
        ("a/b", "use K/N"),
    ):
        with pytest.raises(ValueError, match=reason):
            parse_shard(bad)

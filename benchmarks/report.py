"""How the benchmarks take and print their figures: best-of timing, rates in a sliding window, tables.

Imported as `report` by benchmarks run as scripts (this folder is first on sys.path). dedup_eval.py
and stories_eval.py are also loaded by path from tests, without this folder on sys.path: they
import it inside main() only.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence


def best_of(run: Callable[[], object], repeat: int) -> float:
    """Best wall time of `repeat` runs, in seconds."""
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - started)
    return best


def max_in_any_window(times: Sequence[float], window_s: float = 1.0) -> int:
    """The most events inside any closed window [t, t + window_s] (`times` sorted)."""
    return max(
        (bisect.bisect_right(times, t + window_s) - i for i, t in enumerate(times)), default=0
    )


def format_table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    first_left: bool = False,
    min_width: int = 0,
) -> str:
    """Columns as wide as their widest cell plus two, right-aligned; with `first_left` the first
    column holds row names, left-aligned. Columns of figures are at least `min_width` wide."""
    widths = [
        max(0 if first_left and k == 0 else min_width, len(title), *(len(row[k]) for row in rows))
        + 2
        for k, title in enumerate(header)
    ]

    def line(cells: Sequence[str]) -> str:
        return "".join(
            cell.ljust(w) if first_left and k == 0 else cell.rjust(w)
            for k, (cell, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), *(line(row) for row in rows)])

"""What a page may cost extraction: its time, its worker's memory, and a pre-check of its size.

The pool (`extract.pool`) applies them: the time and memory in the worker processes, the pre-check
before a page is sent, so a page no news site needs fails at once instead of holding a worker.
"""

from __future__ import annotations

# A page whose extraction takes longer is stopped. Over the 500 pages of
# ../shared/corpora/extraction, one at a time on this 2-core machine under load: median 0.07 s,
# slowest 2.9 s; 30 s leaves a 10x margin.
PAGE_TIMEOUT_S = 30.0
# Pre-check limits. The same 500 pages have at most 9,770 '<' (median 1,052) and 0.5 M characters;
# the hostile page of issue 12 (5 MB of <p> siblings) has 1.3 million.
MAX_PAGE_CHARS = 5 * 2**20
MAX_PAGE_TAGS = 200_000
# A worker's address space: a warm worker maps ~250 MB (VmSize, measured here), 8x that is left.
MAX_WORKER_MEMORY_MB = 2048
# A worker that cannot start (import and warm up) in this long is given up.
START_TIMEOUT_S = 120.0
# Workers that die before becoming ready, in a row, before the remaining pages are failed.
MAX_START_FAILURES = 3


def precheck(
    html: str, *, max_chars: int = MAX_PAGE_CHARS, max_tags: int = MAX_PAGE_TAGS
) -> str | None:
    """Why a page is refused before parsing (too big, too many tags), or None. Costs ~1 ms/MB."""
    if len(html) > max_chars:
        return f"page refused before extraction: {len(html):,} characters, more than {max_chars:,}"
    # A page of no more characters than the tag limit cannot have more tags: not counted (the
    # count is ~20 us per 66 KB page, in the process that hands every page to the workers).
    tags = html.count("<") if len(html) > max_tags else 0
    if tags > max_tags:
        return f"page refused before extraction: {tags:,} tags, more than {max_tags:,}"
    return None

"""The console handler of flow and task run logs (tasks/prefect-logging.yml): each error's
traceback printed once.

A task that raises is logged by Prefect's task engine with its traceback ("Task run failed with
exception"); the flow that called it re-raises the same exception and Prefect's flow engine logs it
again, traceback and all ("Encountered exception during execution"): a failed run printed the same
traceback twice (issue 15: 45 lines for one misspelt name). Here a record whose exception, or any
exception it was raised from, already had its traceback printed keeps its message line only. The
UI and API still get every record whole (the `api` handler is another handler).
"""

from __future__ import annotations

import asyncio
import copy
import logging
import os
import threading
from collections import deque
from collections.abc import Iterator

from prefect.logging.handlers import PrefectConsoleHandler

# Exceptions whose traceback was printed, remembered by identity while they can still be re-logged.
_REMEMBERED = 64


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The exception and those it was raised from or during (__cause__, __context__)."""
    seen: set[int] = set()
    pending = [error]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend(e for e in (current.__cause__, current.__context__) if e is not None)


def _key(error: BaseException) -> tuple[int, type[BaseException], str]:
    # Not the exception itself (its traceback holds every frame's locals, e.g. a batch of pages);
    # its type and text besides its id, so a recycled id cannot match another error.
    return id(error), type(error), str(error)[:500]


class OneTracebackConsoleHandler(PrefectConsoleHandler):
    """PrefectConsoleHandler that prints each exception's traceback at most once."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._printed: deque[tuple[int, type[BaseException], str]] = deque(maxlen=_REMEMBERED)
        self._printed_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            keys = [_key(e) for e in _chain(error)]
            with self._printed_lock:
                repeated = any(key in self._printed for key in keys)
                if not repeated:
                    self._printed.extend(keys)
            if repeated:  # a copy: the other handlers (the API's) get the record whole
                record = copy.copy(record)
                record.exc_info, record.exc_text = None, None
        super().emit(record)


class TemporaryApiShutdownFilter(logging.Filter):
    """Drops, in Prefect's temporary API process only, the task run recorder's report of a write
    cancelled by that API's own shutdown: the API stops when newsmon's one-off command exits, after
    its last line, and the records it was writing die with it. Its 50-line traceback came after
    the command's summary or error (a second traceback: tests/e2e/test_failed_run.py). A Prefect
    server (not started with PREFECT__SERVER_EPHEMERAL, Prefect's mark of its temporary API) logs
    every such error as before."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not os.environ.get("PREFECT__SERVER_EPHEMERAL"):
            return True
        error = record.exc_info[1] if record.exc_info else None
        return not isinstance(error, asyncio.CancelledError)

"""Secrets masked in every log record of the process, whoever logs it.

Alert delivery resolves `${VAR}` and Prefect Secret references into notify URLs; Apprise then logs
those URLs and their tokens at DEBUG on its own loggers, and any log line can travel on to
Prefect's API (its log rows). A log-record factory sees every record before any handler or
filter does, so a secret registered here is replaced by `***` on every path, Apprise's included.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from newsmon.alerts.redaction import redact_url

_MASK = "***"
# Shorter values would garble messages ("1", "on") and hide nothing.
_MIN_SECRET_CHARS = 4
# Pieces of a URL that redact_url masks (tokens, passwords, query values) are secrets too.
_URL_PIECES = re.compile(r"[^/?&=:@#]+")

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()  # longest first
_installed = False


def register_secrets(values: Iterable[str]) -> None:
    """Mask these values in every log record from now on (installs the factory once)."""
    global _secrets, _installed
    fresh = {v for v in values if len(v) >= _MIN_SECRET_CHARS}
    with _lock:
        if not fresh.issubset(_secrets):
            _secrets = tuple(sorted(set(_secrets) | fresh, key=len, reverse=True))
        if not _installed:
            logging.setLogRecordFactory(_scrubbing_factory(logging.getLogRecordFactory()))
            _installed = True


def register_url(url: str, secret_values: Iterable[str] = ()) -> None:
    """Mask a resolved notify URL, the values substituted into it, its password, and the
    token-like pieces redact_url hides (long, or mixing letters and digits: not `markdown`)."""
    shown = redact_url(url)
    parts = urlsplit(url)
    pieces = [p for p in _URL_PIECES.findall(url.partition("://")[2]) if p not in shown]
    tokens = [p for p in pieces if len(p) >= 16 or (len(p) >= 8 and _mixed(p))]
    password = [parts.password] if parts.password else []
    register_secrets([url, *secret_values, *tokens, *password])


def _mixed(text: str) -> bool:
    return any(c.isdigit() for c in text) and any(c.isalpha() for c in text)


def scrub(text: str) -> str:
    """`text` with every registered secret replaced by ***."""
    for value in _secrets:
        if value in text:
            text = text.replace(value, _MASK)
    return text


def _scrubbing_factory(previous: Any) -> Any:
    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = previous(*args, **kwargs)
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record: leave it for logging to report
                return record
            cleaned = scrub(message)
            if cleaned != message:
                record.msg, record.args = cleaned, None
        return record

    return make_record

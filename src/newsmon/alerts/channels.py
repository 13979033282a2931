"""Notify channels (Apprise URLs): secret references, the text format each service takes, sending.

Secrets stay out of alerts.yaml and out of the database; a notify URL refers to them and they are
resolved only when a message is sent:

- `${NAME}`: the environment variable NAME (or a line of the .env file);
- `${prefect-secret:NAME}`: the value of the Prefect Secret block NAME. The core never imports
  Prefect: the tasks layer passes a resolver (`SecretResolver`) that loads the block.

Each service gets the format it renders best: what its Apprise plugin declares (email and
Telegram: HTML, most others plain text), except generic webhooks (json://, jsons://), which get
Markdown, and Slack and Google Chat, which get HTML that Apprise turns into their own Markdown
dialect; `?format=text|markdown|html` on the URL overrides all of these.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from newsmon.alerts.log_scrub import register_url
from newsmon.alerts.redaction import redact_url

TextFormat = Literal["text", "markdown", "html"]
SecretResolver = Callable[[str], str]  # Prefect Secret block name -> value; raises if missing

_REFERENCE = re.compile(r"\$\{([^{}]*)\}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_PREFIX = "prefect-secret:"
_BLOCK_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")  # Prefect block names: lowercase, digits, dashes
# Generic webhooks hand the body to programs and chat bridges: Markdown reads well as text too.
_MARKDOWN_SCHEMES = {"json", "jsons"}
# Services with their own Markdown dialect (Slack's mrkdwn, Google Chat): Apprise converts HTML
# into it, but passes Markdown through untouched, so they are given HTML.
_HTML_SCHEMES = {"slack", "gchat"}


class ChannelError(Exception):
    """A notify URL that cannot be used (unresolvable secret, not an Apprise URL); never retried sooner."""


@dataclass(frozen=True)
class Reference:
    """A `${...}` in a notify URL: an environment variable or a Prefect Secret block."""

    kind: Literal["env", "prefect-secret"]
    name: str


def references(url: str) -> list[Reference]:
    """The well-formed secret references in `url`, in order."""
    found = []
    for match in _REFERENCE.finditer(url):
        inner = match.group(1).strip()
        if inner.startswith(_SECRET_PREFIX):
            found.append(Reference("prefect-secret", inner.removeprefix(_SECRET_PREFIX)))
        else:
            found.append(Reference("env", inner))
    return found


def reference_problems(url: str) -> list[str]:
    """What is wrong with the `${...}` references of a notify URL (empty when they are fine)."""
    problems = []
    for match in _REFERENCE.finditer(url):
        inner = match.group(1).strip()
        if inner.startswith(_SECRET_PREFIX):
            name = inner.removeprefix(_SECRET_PREFIX)
            if not _BLOCK_NAME.fullmatch(name):
                problems.append(
                    f"${{{inner}}}: a Prefect Secret block name is lowercase letters, digits and '-'"
                )
        elif not _ENV_NAME.fullmatch(inner):
            problems.append(
                f"${{{inner}}}: write ${{NAME}} for an environment variable "
                "or ${prefect-secret:NAME} for a Prefect Secret block"
            )
    if "${" in _REFERENCE.sub("", url):
        problems.append("'${' without a closing '}'")
    return problems


def resolve_references(
    url: str,
    *,
    environ: Mapping[str, str] | None = None,
    secret: SecretResolver | None = None,
    values: list[str] | None = None,
) -> str:
    """`url` with every `${...}` replaced by its value; ChannelError saying which one is missing.

    The values substituted are appended to `values` (to mask them in error messages).
    """
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        value = lookup(match)
        if values is not None:
            values.append(value)
        return value

    def lookup(match: re.Match[str]) -> str:
        inner = match.group(1).strip()
        if inner.startswith(_SECRET_PREFIX):
            name = inner.removeprefix(_SECRET_PREFIX)
            if secret is None:
                raise ChannelError(
                    f"${{{inner}}}: Prefect Secret blocks are read only when alerts are delivered "
                    "by the ingest flow"
                )
            try:
                return secret(name)
            except Exception as err:
                raise ChannelError(f"Prefect Secret block {name!r} cannot be read: {err}") from None
        if inner not in env:
            raise ChannelError(f"environment variable {inner} is not set")
        return env[inner]

    return _REFERENCE.sub(substitute, url)


def channel_format(url: str) -> TextFormat:
    """The format to write for a resolved notify URL (see the module docstring)."""
    import apprise

    plugin = apprise.Apprise.instantiate(url)
    if plugin is None:
        raise ChannelError("not a valid Apprise URL")
    query = parse_qs(urlsplit(url).query)
    asked = query.get("format", [""])[-1].lower()
    if asked in ("text", "markdown", "html"):
        return asked  # type: ignore[return-value]
    scheme = url.partition("://")[0].lower()
    if "format" not in query and scheme in _MARKDOWN_SCHEMES:
        return "markdown"
    if "format" not in query and scheme in _HTML_SCHEMES:
        return "html"
    declared = plugin.notify_format
    # Apprise 2 declares a tuple of the formats a service takes, its preferred one first.
    if isinstance(declared, tuple | list):
        declared = declared[0] if declared else "text"
    value = str(getattr(declared, "value", declared))
    return value if value in ("text", "markdown", "html") else "text"  # type: ignore[return-value]


@dataclass(frozen=True)
class Rendered:
    """A message written for one format: the title (subject line) and the body."""

    title: str
    body: str
    format: TextFormat


Compose = Callable[[TextFormat], Rendered]
Sender = Callable[[str, Compose], "str | None"]


def send_apprise(
    url: str,
    compose: Compose,
    *,
    secret: SecretResolver | None = None,
    timeout_s: float | None = None,
) -> str | None:
    """Send one message through one notify URL; None when delivered, else the reason (URL redacted)."""
    import apprise

    label = redact_url(url)
    secrets: list[str] = []
    try:
        resolved = resolve_references(url, secret=secret, values=secrets)
        register_url(resolved, secrets)  # before Apprise sees it: it logs URLs at DEBUG
        fmt = channel_format(resolved)
        plugin = apprise.Apprise.instantiate(resolved)
        if plugin is None:  # checked by channel_format; keeps mypy and a changed plugin honest
            raise ChannelError("not a valid Apprise URL")
        _apply_timeout(plugin, resolved, timeout_s)
        message = compose(fmt)
        notifier = apprise.Apprise()
        notifier.add(plugin)
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = notifier.notify(
                title=message.title,
                body=message.body,
                body_format=apprise.NotifyFormat(message.format),
            )
    except ChannelError as err:
        return f"{label}: {err}"
    if ok:
        return None
    detail = " ".join(str(captured.getvalue()).split())[-300:] or "delivery failed"
    return f"{label}: {_scrub(detail, url, secrets)}"


def _apply_timeout(plugin: Any, url: str, timeout_s: float | None) -> None:
    """NEWSMON_NOTIFY_TIMEOUT_S as the connect and read timeouts, unless the URL sets cto=/rto=."""
    if timeout_s is None:
        return
    query = parse_qs(urlsplit(url).query)
    if "cto" not in query and hasattr(plugin, "socket_connect_timeout"):
        plugin.socket_connect_timeout = timeout_s
    if "rto" not in query and hasattr(plugin, "socket_read_timeout"):
        plugin.socket_read_timeout = timeout_s


def _scrub(text: str, written: str, secrets: list[str]) -> str:
    """Apprise log lines may quote the URL or a secret in it: mask them."""
    text = text.replace(written, redact_url(written))
    for value in sorted(secrets, key=len, reverse=True):
        if len(value) >= 4:  # masking "1" or "" would garble the message, and hides nothing
            text = text.replace(value, "***")
    return text

"""Alert messages for people: one alert or a digest, written as plain text, Markdown or HTML.

Pure: an `AlertItem` (what the message says about one alert) in, a `Rendered` (title and body in
the format the channel takes, see newsmon.alerts.channels) out. Every message says at a glance why it
fired: the rule, the story's title, its outlet and how many outlets carry it, when it was
published, the link, the matched terms, and a snippet around the first match with the terms marked.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from newsmon.alerts.channels import Rendered, TextFormat
from newsmon.rules.highlight import snippet
from newsmon.rules.query import QuerySyntaxError, parse_query

SNIPPET_WIDTH = 240
TITLE_MAX = 200  # subject lines and chat titles: longer ones are cut with "…"
DIGEST_MAX_ITEMS = 50  # a digest lists at most this many alerts, then says how many more
DIGEST_SNIPPETS = 5  # the first alerts of a digest get a snippet, the rest one line each

_OPEN, _CLOSE = "\x00", "\x01"  # marks around a highlighted term while building a snippet
# CommonMark characters that would change how a title or snippet is read.
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|~])")


@dataclass(frozen=True)
class Excerpt:
    """A snippet as pieces of text, each highlighted (a matched term) or not."""

    pieces: tuple[tuple[str, bool], ...]

    @property
    def plain(self) -> str:
        return "".join(text for text, _ in self.pieces)


def make_excerpt(text: str, terms: Sequence[str], *, width: int = SNIPPET_WIDTH) -> Excerpt:
    """About `width` characters of `text` around the first matched term, the terms marked."""
    text = text.replace(_OPEN, " ").replace(_CLOSE, " ")
    query = None
    if terms:
        try:
            query = parse_query(" OR ".join(f'"{term}"' for term in terms))
        except QuerySyntaxError:  # a stored term that no longer parses: show the text unmarked
            query = None
    if query is None:  # nothing to find: the start of the text
        words = " ".join(text.split())
        cut = words[:width].rsplit(" ", 1)[0] if len(words) > width else words
        raw = cut + ("…" if len(cut) < len(words) else "")
    else:
        raw = snippet(text, query, width=width, mark=lambda s: f"{_OPEN}{s}{_CLOSE}")
    pieces: list[tuple[str, bool]] = []
    for part in re.split(f"({_OPEN}[^{_CLOSE}]*{_CLOSE})", raw):
        if part.startswith(_OPEN):
            pieces.append((part[1:-1], True))
        elif part:
            pieces.append((part, False))
    return Excerpt(tuple(pieces))


@dataclass(frozen=True)
class AlertItem:
    """What a message says about one alert."""

    rule: str
    title: str | None
    url: str
    source: str
    outlets: tuple[str, ...]  # every outlet carrying the story, earliest first
    published_at: datetime | None
    matched: tuple[str, ...]
    excerpt: Excerpt

    @property
    def headline(self) -> str:
        return self.title or self.url


def render_alert(item: AlertItem, fmt: TextFormat, *, zone: tzinfo = UTC) -> Rendered:
    """One alert as a message in `fmt`."""
    title = _cut(f"[{item.rule}] {item.headline}", TITLE_MAX)
    writer = _WRITERS[fmt]
    lines = [
        writer.link(item.url, item.headline, strong=True),
        f"{writer.label('Outlet')} {writer.escape(_outlets(item))}",
    ]
    if item.published_at is not None:
        lines.append(f"{writer.label('Published')} {writer.escape(_when(item.published_at, zone))}")
    lines.append(
        f"{writer.label('Matched')} {_matched(item, writer)} "
        f"{writer.escape('(rule ')}{writer.code(item.rule)}{writer.escape(')')}"
    )
    lines.append(f"{writer.label('Link')} {writer.bare_link(item.url)}")
    body = writer.lines(lines)
    if item.excerpt.pieces:
        body += writer.quote(item.excerpt)
    return Rendered(title=title, body=writer.document(body), format=fmt)


def render_digest(
    rule: str,
    items: Sequence[AlertItem],
    fmt: TextFormat,
    *,
    reason: str = "",
    since: datetime | None = None,
    zone: tzinfo = UTC,
) -> Rendered:
    """Several alerts of one rule as one message: how many, and each one's title, link and outlets."""
    count = len(items)
    noun = "match" if count == 1 else "matches"
    title = f"[{rule}] {count} new {noun}"
    if since is not None:
        title += f" since {_when(since, zone)}"
    writer = _WRITERS[fmt]
    header = f"{count} new {noun} for rule "
    why = f" ({reason})" if reason else ""
    parts = [writer.lines([f"{writer.escape(header)}{writer.code(rule)}{writer.escape(why)}"])]
    for number, item in enumerate(items[:DIGEST_MAX_ITEMS], start=1):
        details = [_outlets(item)]
        if item.published_at is not None:
            details.append(_when(item.published_at, zone))
        lines = [
            f"{number}. {writer.link(item.url, item.headline, strong=True)}",
            f"{writer.escape(' · '.join(details))}",
            f"{writer.label('Matched')} {_matched(item, writer)}",
            f"{writer.label('Link')} {writer.bare_link(item.url)}",
        ]
        part = writer.lines(lines)
        if number <= DIGEST_SNIPPETS and item.excerpt.pieces:
            part += writer.quote(item.excerpt)
        parts.append(part)
    if count > DIGEST_MAX_ITEMS:
        more = f"… and {count - DIGEST_MAX_ITEMS} more (newsmon export alerts lists them all)"
        parts.append(writer.lines([writer.escape(more)]))
    return Rendered(
        title=_cut(title, TITLE_MAX), body=writer.document(writer.join(parts)), format=fmt
    )


def _outlets(item: AlertItem) -> str:
    outlets = item.outlets or (item.source,)
    if len(outlets) == 1:
        return item.source
    return f"{item.source}, on {len(outlets)} outlets: {', '.join(outlets)}"


def _when(value: datetime, zone: tzinfo) -> str:
    local = value.astimezone(zone)
    name = "UTC" if zone is UTC else str(zone)
    return f"{local:%Y-%m-%d %H:%M} {name}"


def _matched(item: AlertItem, writer: _Writer) -> str:
    if not item.matched:
        return writer.escape("(source, language or topic fields only)")
    return ", ".join(writer.mark(term) for term in item.matched)


# Characters percent-encoded in a link: whitespace and controls (they would end the link or start
# a line), and what Markdown reads as the end of a link (`>` closed the <...> autolink, letting a
# feed's URL append a live link of its own). Encoded, they mean the same URL (RFC 3986 2.1).
_UNSAFE_IN_LINK = frozenset(' <>()[]`"\\{}|^')


def safe_link(url: str) -> str:
    """The URL with every character that could end a link or start markup percent-encoded."""
    return "".join(
        f"%{ord(c):02X}" if c in _UNSAFE_IN_LINK or ord(c) < 0x20 or ord(c) == 0x7F or c.isspace()
        else c
        for c in url
    )  # fmt: skip


def _link_target(url: str) -> str:
    """A URL safe inside Markdown's (...) link destination and <...> autolinks."""
    return safe_link(url)


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


class _Writer:
    """Plain text: highlighted terms between asterisks, links as bare URLs."""

    def escape(self, text: str) -> str:
        return text

    def mark(self, text: str) -> str:
        return f"*{self.escape(text)}*"

    def label(self, name: str) -> str:
        return f"{name}:"

    def code(self, text: str) -> str:
        return self.escape(text)

    def link(self, url: str, text: str, *, strong: bool = False) -> str:
        return self.escape(text)

    def bare_link(self, url: str) -> str:
        return safe_link(url)

    def lines(self, lines: Sequence[str]) -> str:
        return "\n".join(lines) + "\n"

    def quote(self, excerpt: Excerpt) -> str:
        body = "".join(self.mark(t) if hit else self.escape(t) for t, hit in excerpt.pieces)
        return f"\n“{body}”\n"

    def join(self, parts: Sequence[str]) -> str:
        return "\n".join(parts)

    def document(self, body: str) -> str:
        return body.rstrip("\n")


class _MarkdownWriter(_Writer):
    """CommonMark: bold terms, a linked bold title, the snippet as a block quote."""

    def escape(self, text: str) -> str:
        return _MARKDOWN_SPECIAL.sub(r"\\\1", text)

    def mark(self, text: str) -> str:
        return f"**{self.escape(text)}**"

    def label(self, name: str) -> str:
        return f"{name}:"

    def code(self, text: str) -> str:
        return f"`{text.replace('`', '')}`"

    def link(self, url: str, text: str, *, strong: bool = False) -> str:
        linked = f"[{self.escape(text)}]({_link_target(url)})"
        return f"**{linked}**" if strong else linked

    def bare_link(self, url: str) -> str:
        return f"<{_link_target(url)}>"

    def lines(self, lines: Sequence[str]) -> str:
        return "  \n".join(lines) + "\n"  # two trailing spaces: a line break, not a new paragraph

    def quote(self, excerpt: Excerpt) -> str:
        return (
            "\n> "
            + "".join(self.mark(t) if hit else self.escape(t) for t, hit in excerpt.pieces)
            + "\n"
        )


class _HtmlWriter(_Writer):
    """HTML for email: escaped text, <mark>ed terms, right-to-left text laid out by the reader."""

    def escape(self, text: str) -> str:
        return html.escape(text, quote=False)

    def mark(self, text: str) -> str:
        return f"<mark><strong>{self.escape(text)}</strong></mark>"

    def label(self, name: str) -> str:
        return f"<b>{name}:</b>"

    def code(self, text: str) -> str:
        return f"<code>{self.escape(text)}</code>"

    def link(self, url: str, text: str, *, strong: bool = False) -> str:
        inner = f"<strong>{self.escape(text)}</strong>" if strong else self.escape(text)
        return f'<a href="{html.escape(url)}" dir="auto">{inner}</a>'

    def bare_link(self, url: str) -> str:
        return f'<a href="{html.escape(url)}">{self.escape(url)}</a>'

    def lines(self, lines: Sequence[str]) -> str:
        return '<p dir="auto">' + "<br>\n".join(lines) + "</p>\n"

    def quote(self, excerpt: Excerpt) -> str:
        body = "".join(self.mark(t) if hit else self.escape(t) for t, hit in excerpt.pieces)
        return f'<blockquote dir="auto">{body}</blockquote>\n'

    def join(self, parts: Sequence[str]) -> str:
        return "<hr>\n".join(parts)

    def document(self, body: str) -> str:
        return f'<div dir="auto">\n{body}</div>'


_WRITERS: dict[str, _Writer] = {
    "text": _Writer(),
    "markdown": _MarkdownWriter(),
    "html": _HtmlWriter(),
}

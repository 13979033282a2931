"""Canonical URLs: one spelling per article, so the same page linked two ways is stored once.

Standard library only (`urllib.parse` to split, our own normalisation). `courlan` was considered
and not used: its `normalize_url` also lowercases paths in some cases, drops parameters by its own
list and its output is not stable across versions, which would silently change stored keys.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import socket
from urllib.parse import SplitResult, urlsplit, urlunsplit

import idna

# Query parameters that only track how a reader arrived; they never select a different page.
# Keys are compared case-insensitively. Sources: Google Analytics/Ads, Meta, Microsoft, Mailchimp,
# HubSpot, Marketo, Twitter/X, TikTok, LinkedIn, AT Internet (BBC, Le Monde: at_*, xtor), Adobe
# (cmpid, s_cid), MSN (ocid), NYT (smid, smtyp), Guardian (CMP).
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid",
        "twclid", "ttclid", "li_fat_id", "igshid", "mc_cid", "mc_eid", "_ga", "_gl",
        "_hsenc", "_hsmi", "hsctatracking", "mkt_tok", "ref_src", "ref_url", "cmpid",
        "s_cid", "ocid", "ncid", "smid", "smtyp", "cmp", "xtor", "at_medium",
        "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4",
        "at_link_id", "at_link_origin", "at_link_type", "at_format", "at_ptr_name",
        "at_bbc_team", "__twitter_impression",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_",)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = frozenset("!$&'()*+,;=")
# Characters left as they are (everything else is percent-encoded as UTF-8).
_PATH_SAFE = _UNRESERVED | _SUB_DELIMS | frozenset(":@/")
_QUERY_SAFE = (_UNRESERVED | _SUB_DELIMS | frozenset(":@/?")) - frozenset("&=")
_HEX = frozenset("0123456789abcdefABCDEF")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
# Control characters and spaces that browsers strip from (or around) a pasted URL.
_STRIPPED = re.compile(r"[\t\n\r]")


# Cached: one article's URLs are canonicalised several times on their way (politeness host key,
# robots.txt, the queue, the draft), ~7 calls per article in an ingest.
@functools.lru_cache(maxsize=16384)
def canonical_url(url: str) -> str:
    """The canonical form of an http(s) URL; raises ValueError (naming the URL) for anything else."""
    parts = _split(url)
    scheme = parts.scheme.lower()
    host = _canonical_host(parts, url)
    port = _port(parts, url)
    # Credentials (`user:pw@`) are dropped: they never select a different article, and stored or
    # alerted links must not carry them.
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _remove_dot_segments(_normalise_escapes(parts.path, _PATH_SAFE)) or "/"
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return urlunsplit((scheme, netloc, path, _canonical_query(parts.query), ""))


def is_http_url(url: str) -> bool:
    """True if `url` is an absolute http(s) URL with a valid host."""
    try:
        canonical_url(url)
    except ValueError:
        return False
    return True


def host_key(url: str) -> str:
    """`host[:port]` of a URL (port only when not the default): the unit of per-host limits and
    robots.txt. Spellings of one address are one key: `127.1`, `0x7f.1`, `2130706433`,
    `[::ffff:127.0.0.1]` and `localhost` are all `127.0.0.1`."""
    netloc = urlsplit(canonical_url(url)).netloc
    host, colon, port = netloc.rpartition(":") if not netloc.endswith("]") else (netloc, "", "")
    if not colon or not port.isdigit():
        host, colon, port = netloc, "", ""
    return address_spelling(host) + colon + port


_LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.I)


def address_spelling(host: str) -> str:
    """One spelling per address for a canonical host: legacy IPv4 forms as dotted quads,
    IPv4-mapped IPv6 as IPv4, `localhost` (and `*.localhost`, RFC 6761) as 127.0.0.1."""
    if host == "localhost" or host.endswith(".localhost"):
        return "127.0.0.1"
    if host.startswith("["):
        try:
            mapped = ipaddress.IPv6Address(host[1:-1]).ipv4_mapped
        except ValueError:
            return host
        return str(mapped) if mapped is not None else host
    if _LEGACY_IPV4.fullmatch(host):
        try:
            return socket.inet_ntoa(socket.inet_aton(host))
        except OSError:
            return host
    return host


def without_credentials(url: str) -> str:
    """`url` with any `user:password@` removed (nothing else changed)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def _split(url: str) -> SplitResult:
    if not isinstance(url, str):
        raise ValueError(f"not a URL: {url!r}")
    cleaned = _STRIPPED.sub("", url.strip())
    try:
        parts = urlsplit(cleaned)
    except ValueError as err:
        raise ValueError(f"not a valid URL: {url!r} ({err})") from None
    if parts.scheme.lower() not in _DEFAULT_PORTS:
        raise ValueError(f"not an http(s) URL: {url!r}")
    if not parts.netloc:
        raise ValueError(f"URL has no host: {url!r}")
    return parts


def _canonical_host(parts: SplitResult, url: str) -> str:
    hostinfo = parts.netloc.rpartition("@")[2]
    if hostinfo.startswith("["):
        literal = hostinfo[1:].partition("]")[0]
        try:
            return f"[{ipaddress.IPv6Address(literal).compressed}]"
        except ValueError:
            raise ValueError(f"invalid IPv6 address in URL: {url!r}") from None
    host = (parts.hostname or "").rstrip(".")
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            try:  # IDNA 2003 still accepts some names IDNA 2008 refuses (symbols, emoji)
                host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise ValueError(f"invalid international host name in URL: {url!r}") from None
    host = host.lower()
    if not host or len(host) > 253 or not _HOST_NAME.fullmatch(host):
        raise ValueError(f"invalid host in URL: {url!r}")
    return host


def _port(parts: SplitResult, url: str) -> int | None:
    try:
        return parts.port
    except ValueError:
        raise ValueError(f"invalid port in URL: {url!r}") from None


def _normalise_escapes(text: str, safe: frozenset[str]) -> str:
    """Decode escapes of unreserved characters, uppercase the others, encode what must be."""
    out: list[str] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "%" and i + 2 < len(text) and text[i + 1] in _HEX and text[i + 2] in _HEX:
            decoded = chr(int(text[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + text[i + 1 : i + 3].upper())
            i += 3
            continue
        if char in safe:
            out.append(char)
        else:
            out.extend(f"%{byte:02X}" for byte in char.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on an absolute path."""
    output: list[str] = []
    segments = path.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == ".":
            if last:
                output.append("")
        elif segment == "..":
            if len(output) > 1:
                output.pop()
            if last:
                output.append("")
        else:
            output.append(segment)
    result = "/".join(output)
    return result if result.startswith("/") else "/" + result


def _canonical_query(query: str) -> str:
    kept: list[tuple[str, str]] = []
    for piece in query.split("&"):
        if not piece:
            continue
        key, sep, value = piece.partition("=")
        key = _normalise_escapes(key, _QUERY_SAFE)
        lowered = key.lower()
        if lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES):
            continue
        kept.append((key, sep + _normalise_escapes(value, _QUERY_SAFE | {"="})))
    # Stable sort on the key only: the order of a repeated key's values may mean something.
    kept.sort(key=lambda pair: pair[0])
    return "&".join(key + rest for key, rest in kept)

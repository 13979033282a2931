"""Notify URLs made safe to log: credentials, tokens and query values masked.

Its own module because settings (validation messages), channels, log_scrub, the store and the rule
tools all need it, and settings itself imports channels: in settings it closed an import cycle.
"""

from __future__ import annotations


def redact_url(url: str) -> str:
    """A notify URL safe to log: credentials, tokens and query values masked.

    Many Apprise services put the token where a host would be (`slack://TokenA/TokenB/...`,
    `tgram://bottoken/chat`), so a "host" is kept only when it looks like one (a dotted name, an
    IP address, localhost); path segments that look like tokens are masked too.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"
    host_and_path = rest.split("?", 1)[0].split("#", 1)[0]
    if "@" in host_and_path:
        host_and_path = "***@" + host_and_path.rsplit("@", 1)[1]
    host, slash, path = host_and_path.partition("/")
    userinfo, at, bare_host = host.rpartition("@")
    name = bare_host.rsplit(":", 1)[0] if bare_host.count(":") == 1 else bare_host
    looks_like_host = "." in name or name in ("localhost", "") or name.startswith("[")
    host = f"{userinfo}{at}{bare_host if looks_like_host else '***'}"
    masked_path = "/".join(_mask_segment(seg) for seg in path.split("/")) if slash else ""
    query = "?***" if "?" in rest else ""
    return f"{scheme}://{host}{slash}{masked_path}{query}"


def _mask_segment(segment: str) -> str:
    # Webhook paths carry their token as a segment: long, or mixing letters and digits.
    mixed = any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment)
    return "***" if len(segment) >= 16 or (mixed and len(segment) >= 8) else segment

"""Which addresses the SSRF guard lets a request reach (the rules; newsmon.fetch.connection enforces them).

Public addresses always; loopback and private ranges only when allowed (all of them with
NEWSMON_ALLOW_PRIVATE_HOSTS, or listed networks and hosts with NEWSMON_PRIVATE_ALLOWLIST);
link-local (cloud metadata), multicast, unspecified and reserved never. IPv6 forms that carry an
IPv4 address are judged by that address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection
from dataclasses import dataclass

__all__ = ["PrivateAccess", "always_refused", "refusal_reason"]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Refused in every mode, whatever NEWSMON_ALLOW_PRIVATE_HOSTS or the allowlist say: cloud metadata
# services live on link-local addresses, and nothing legitimate is served from the others.
_ALWAYS_REFUSED = frozenset(
    {"link-local address", "multicast address", "unspecified address", "reserved address"}
)


def refusal_reason(address: str) -> str | None:
    """Why the guard refuses this IP address (e.g. "private address"), or None if it is public."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that address: judge the IPv4 one.
        embedded = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if embedded is None and ip in _NAT64:
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            inner = refusal_reason(str(embedded))
            return f"{inner} (embedded in {ip})" if inner else None
    checks = (
        (ip.is_unspecified, "unspecified address"),
        (ip.is_loopback, "loopback address"),
        (ip.is_link_local, "link-local address"),
        # fec0::/10 (deprecated, RFC 3879) still routes inside old networks; Python calls it global.
        (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local, "site-local address"),
        (ip.is_multicast, "multicast address"),
        (isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT, "shared (CGNAT) address"),
        (ip.is_reserved, "reserved address"),
        (ip.is_private, "private address"),
        (not ip.is_global, "address that is not globally routable"),
    )
    return next((reason for refused, reason in checks if refused), None)


def always_refused(reason: str) -> bool:
    """Whether a `refusal_reason` holds in every mode (link-local/metadata, multicast, ...)."""
    return reason.split(" (embedded in ", 1)[0] in _ALWAYS_REFUSED


@dataclass(frozen=True)
class PrivateAccess:
    """Which non-public addresses may be reached: all private ones (NEWSMON_ALLOW_PRIVATE_HOSTS),
    or those in listed networks or behind listed host names (NEWSMON_PRIVATE_ALLOWLIST).
    Link-local, multicast, unspecified and reserved addresses stay refused either way."""

    allow_all: bool = False
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, allow_all: bool, allowlist: Collection[str] = ()) -> PrivateAccess:
        """From the setting's items: CIDRs or addresses ("10.1.0.0/16", "::1"), or host names."""
        networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        hosts: set[str] = set()
        for item in (i.strip() for i in allowlist):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(allow_all=allow_all, networks=tuple(networks), hosts=frozenset(hosts))

    def refusal(self, host: str, address: str) -> str | None:
        """Why connecting to `address` (for `host`) is refused, with what would allow it; or None."""
        reason = refusal_reason(address)
        if reason is None:
            return None
        if always_refused(reason):
            return f"{reason}, refused in every mode"
        if self.allow_all or host.lower().rstrip(".") in self.hosts:
            return None
        ip = ipaddress.ip_address(address)
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        candidates = [ip] if mapped is None else [ip, mapped]
        if any(candidate in network for network in self.networks for candidate in candidates):
            return None
        return f"{reason} (NEWSMON_PRIVATE_ALLOWLIST or NEWSMON_ALLOW_PRIVATE_HOSTS=true allows it)"

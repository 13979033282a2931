"""The SSRF guard with private hosts allowed: metadata, multicast and reserved stay refused.

Issue 12, item 3: with NEWSMON_ALLOW_PRIVATE_HOSTS=true a redirect from an allowed intranet site to
169.254.169.254, [::ffff:169.254.169.254] or 10.0.0.1 was followed. Connects go through a stubbed
resolver and a connection layer that only ever reaches 127.0.0.1.
"""

from __future__ import annotations

import pytest

from newsmon.fetch.http import BlockedAddressError
from newsmon.fetch.ssrf import PrivateAccess
from newsmon.settings import Settings
from tests.localserver import ConnectLog, LocalServer
from tests.unit.test_http import PUBLIC_IP, fetch, fetch_error, policy, stub_resolver

ALWAYS_REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://[::ffff:169.254.169.254]/latest/meta-data/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://2852039166/",  # 169.254.169.254 as one number
    "http://0xa9.0xfe.0xa9.0xfe/",
    "http://[fe80::1]/",
    "http://0.0.0.0/",
    "http://[::]/",
    "http://224.0.0.251/",
    "http://[ff02::1]/",
    "http://240.0.0.1/",
]


@pytest.mark.parametrize("target", ALWAYS_REFUSED)
@pytest.mark.parametrize("mode", ["allow_all", "allowlist", "default"])
def test_redirect_from_an_allowed_intranet_site_to_metadata_is_refused_in_every_mode(
    server: LocalServer, connections: ConnectLog, target: str, mode: str
) -> None:
    server.route("/start", status=302, headers={"Location": target})
    if mode == "default":  # the intranet host poses as a public one
        connections.routes[PUBLIC_IP] = "127.0.0.1"
        resolver = stub_resolver({"intranet.test": [PUBLIC_IP]})
        rules = policy(allow_private_hosts=False)
    else:
        resolver = stub_resolver({"intranet.test": ["127.0.0.1"]})
        rules = (
            policy(allow_private_hosts=True)
            if mode == "allow_all"
            else policy(allow_private_hosts=False, private_allowlist=("0.0.0.0/0", "::/0"))
        )
    error = fetch_error(f"http://intranet.test:{server.port}/start", rules=rules, resolver=resolver)
    assert isinstance(error, BlockedAddressError)
    assert "refused in every mode" in str(error)
    assert len(connections.attempts) == 1  # the intranet site only: never the target


def test_allowlist_lets_listed_networks_and_hosts_through_and_nothing_else(
    server: LocalServer, connections: ConnectLog
) -> None:
    server.route("/feed", "intranet feed")
    server.route("/to-ten", status=302, headers={"Location": "http://10.0.0.1/admin"})
    allowlist = ("127.0.0.0/8",)
    resolver = stub_resolver({"intranet.test": ["127.0.0.1"]})
    rules = policy(allow_private_hosts=False, private_allowlist=allowlist)
    ok = fetch(f"http://intranet.test:{server.port}/feed", rules=rules, resolver=resolver)
    assert ok.body == b"intranet feed"
    error = fetch_error(
        f"http://intranet.test:{server.port}/to-ten", rules=rules, resolver=resolver
    )
    assert isinstance(error, BlockedAddressError) and "10.0.0.1 is a private address" in str(error)
    assert "NEWSMON_PRIVATE_ALLOWLIST" in str(error)
    by_name = policy(allow_private_hosts=False, private_allowlist=("Intranet.Test",))
    named = fetch(f"http://intranet.test:{server.port}/feed", rules=by_name, resolver=resolver)
    assert named.body == b"intranet feed"
    assert all(host == "127.0.0.1" for host, _port in connections.attempts)


def test_allow_private_hosts_keeps_loopback_and_private_ranges_reachable() -> None:
    # As documented: tests and the demo serve on 127.0.0.1 with the boolean set.
    access = PrivateAccess.parse(True)
    for address in ("127.0.0.1", "10.0.0.1", "192.168.1.1", "::1", "fd00::1", "::ffff:127.0.0.1"):
        assert access.refusal("h", address) is None, address
    for address in (
        "169.254.169.254",
        "::ffff:169.254.169.254",
        "224.0.0.1",
        "0.0.0.0",
        "240.0.0.1",
    ):
        assert access.refusal("h", address), address
    mapped = PrivateAccess.parse(False, ["10.0.0.0/8"])
    assert mapped.refusal("h", "::ffff:10.1.2.3") is None
    assert mapped.refusal("h", "10.1.2.3") is None
    assert mapped.refusal("h", "192.168.0.1")


def test_private_allowlist_setting_is_a_comma_separated_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NEWSMON_PRIVATE_ALLOWLIST", "10.1.0.0/16, intranet.example ,")
    assert Settings().private_allowlist_items == ("10.1.0.0/16", "intranet.example")

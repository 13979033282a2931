"""Notify URLs: secret references and the format each service is written in."""

from __future__ import annotations

import pytest

from newsmon.alerts.channels import (
    ChannelError,
    Reference,
    channel_format,
    reference_problems,
    references,
    resolve_references,
)


def test_references_name_environment_variables_and_prefect_secrets() -> None:
    url = "mailtos://desk:${prefect-secret:smtp-password}@mail.example.org?to=${DESK}"
    assert references(url) == [
        Reference("prefect-secret", "smtp-password"),
        Reference("env", "DESK"),
    ]
    assert reference_problems(url) == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("json://h/${1ABC}", "write ${NAME} for an environment variable"),
        ("json://h/${prefect-secret:Smtp_Password}", "lowercase letters, digits and '-'"),
        ("json://h/${TOKEN", "'${' without a closing '}'"),
    ],
)
def test_malformed_references_are_explained(url: str, problem: str) -> None:
    [found] = reference_problems(url)
    assert problem in found


def test_references_resolve_from_the_environment_and_a_secret_resolver() -> None:
    secrets = {"smtp-password": "s3cret"}
    collected: list[str] = []
    resolved = resolve_references(
        "mailto://desk:${prefect-secret:smtp-password}@h?to=${DESK}",
        environ={"DESK": "desk@example.org"},
        secret=secrets.__getitem__,
        values=collected,
    )
    assert resolved == "mailto://desk:s3cret@h?to=desk@example.org"
    assert collected == ["s3cret", "desk@example.org"]


def test_missing_secrets_say_which() -> None:
    with pytest.raises(ChannelError, match="environment variable DESK is not set"):
        resolve_references("json://h/${DESK}", environ={})
    with pytest.raises(ChannelError, match="Prefect Secret blocks are read only when"):
        resolve_references("json://h/${prefect-secret:token}", environ={})

    def missing(name: str) -> str:
        raise ValueError(f"Unable to find block document named {name}")

    with pytest.raises(ChannelError, match="Prefect Secret block 'token' cannot be read"):
        resolve_references("json://h/${prefect-secret:token}", secret=missing)


@pytest.mark.parametrize(
    ("url", "fmt"),
    [
        ("json://127.0.0.1:8765/hook", "markdown"),  # generic webhooks: Markdown
        ("json://127.0.0.1:8765/hook?format=text", "text"),  # the URL decides when it says
        ("mailto://user:pass@example.org", "html"),  # email: HTML
        ("mailtos://user:pass@example.org?format=text", "text"),
        ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#desk", "html"),  # -> Slack mrkdwn
        ("tgram://123456789:abcdefg_hijklmnop/12315544/", "html"),
        ("ntfy://newsmon-alerts", "text"),
    ],
)
def test_each_service_gets_the_format_it_renders(url: str, fmt: str) -> None:
    assert channel_format(url) == fmt


def test_an_unknown_scheme_is_a_channel_error() -> None:
    with pytest.raises(ChannelError, match="not a valid Apprise URL"):
        channel_format("jsno://127.0.0.1/hook")

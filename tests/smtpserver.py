"""A real SMTP server on 127.0.0.1 for tests (aiosmtpd), optionally requiring a password."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
import warnings
from email.message import EmailMessage
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


class LocalSMTPServer:
    """Collects the messages submitted to it; with `password`, AUTH (PLAIN/LOGIN) is required."""

    def __init__(self, *, password: str | None = None) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []  # (MAIL FROM, RCPT TO)
        self.logins: list[tuple[str, str]] = []  # (user, password) tried
        self._password = password
        self._lock = threading.Lock()
        # aiosmtpd's Controller cannot bind port 0 (it connects to the port to check it is up).
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        options: dict[str, Any] = {}
        if password is not None:
            options = {
                "authenticator": self._authenticate,
                "auth_require_tls": False,  # loopback only, and the point is to see the password
                "auth_required": True,
            }
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        user, password = data.login.decode(), data.password.decode()
        with self._lock:
            self.logins.append((user, password))
        return AuthResult(success=password == self._password)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        with self._lock:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"

    def __enter__(self) -> Self:
        with warnings.catch_warnings():  # "AUTH without TLS": wanted here
            warnings.simplefilter("ignore")
            self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def parts(message: EmailMessage) -> dict[str, str]:
    """content type -> decoded text of each text part of a (multipart) message."""
    found = {}
    for part in message.walk():
        if part.get_content_maintype() == "text":
            found[part.get_content_type()] = part.get_content()  # type: ignore[attr-defined]
    return found

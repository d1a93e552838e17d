"""SMTP settings from the environment, recipient addresses, and sending a message with retries.

:func:`send_message` retries transient failures only and never retries a message the server
may already have (:class:`UnconfirmedDelivery`); see :mod:`opsnb.run.delivery`.
"""

from __future__ import annotations

import os
import re
import smtplib
import ssl
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import getaddresses

from opsnb.errors import DeliveryError, OpsnbWarning, ParameterError

__all__ = [
    "SmtpSettings",
    "SECURITY_MODES",
    "UnconfirmedDelivery",
    "smtp_settings_from_env",
    "parse_recipients",
    "send_message",
]


SECURITY_MODES = ("starttls", "ssl", "none")


@dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send. Build it with :func:`smtp_settings_from_env`."""

    host: str
    port: int
    sender: str
    security: str = "starttls"
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    """Seconds for connecting and for each command's reply."""
    data_timeout: float = 600.0
    """Seconds to wait for the reply to the message itself (RFC 5321 §4.5.3.2: 10 minutes);
    slow corporate servers scan attachments before they answer."""


def smtp_settings_from_env(env: Mapping[str, str] | None = None) -> SmtpSettings:
    """Read ``OPSNB_SMTP_*`` variables; raise :class:`DeliveryError` naming what is missing."""
    env = os.environ if env is None else env
    host = env.get("OPSNB_SMTP_HOST", "").strip()
    if not host:
        raise DeliveryError(
            "SMTP is not configured: set OPSNB_SMTP_HOST (and OPSNB_SMTP_PORT, "
            "OPSNB_SMTP_USER, OPSNB_SMTP_PASSWORD, OPSNB_SMTP_SECURITY, "
            "OPSNB_SMTP_FROM) in the environment"
        )
    security = env.get("OPSNB_SMTP_SECURITY", "starttls").strip().lower() or "starttls"
    if security not in SECURITY_MODES:
        raise ParameterError(
            f"OPSNB_SMTP_SECURITY must be one of {SECURITY_MODES}, got {security!r}"
        )
    default_port = {"ssl": 465, "starttls": 587, "none": 25}[security]
    port_text = env.get("OPSNB_SMTP_PORT", "").strip()
    try:
        port = int(port_text) if port_text else default_port
    except ValueError:
        raise ParameterError(f"OPSNB_SMTP_PORT must be an integer, got {port_text!r}") from None
    user = env.get("OPSNB_SMTP_USER", "")
    sender = env.get("OPSNB_SMTP_FROM", "").strip() or user or f"opsnb@{host}"
    parse_recipients([sender])  # validate
    timeouts = {}
    for name, key in (
        ("timeout", "OPSNB_SMTP_TIMEOUT"),
        ("data_timeout", "OPSNB_SMTP_DATA_TIMEOUT"),
    ):
        text = env.get(key, "").strip()
        if text:
            try:
                timeouts[name] = float(text)
            except ValueError:
                raise ParameterError(f"{key} must be a number of seconds, got {text!r}") from None
    return SmtpSettings(
        host=host,
        port=port,
        sender=sender,
        security=security,
        user=user,
        password=env.get("OPSNB_SMTP_PASSWORD", ""),
        **timeouts,
    )


def parse_recipients(values: Iterable[str] | str | None) -> list[str]:
    """Normalise ``"张三 <a@x.cn>, b@y.com"`` or a list of them into one address per item.

    Raises :class:`ParameterError` for an item without a valid ``user@domain``.
    """
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for name, addr in getaddresses([str(v) for v in values if str(v).strip()]):
        if not re.fullmatch(r"[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+", addr or ""):
            raise ParameterError(
                f"not an email address: {addr or name!r} "
                "(expected user@domain or 'Name <user@domain>')"
            )
        out.append(str(Address(display_name=name, addr_spec=addr)) if name else addr)
    return out


def _transient(exc: BaseException) -> bool:
    if isinstance(
        exc,
        (
            smtplib.SMTPAuthenticationError,
            smtplib.SMTPRecipientsRefused,
            smtplib.SMTPNotSupportedError,
            ssl.SSLCertVerificationError,
        ),
    ):
        return False
    if isinstance(exc, smtplib.SMTPResponseException):
        return 400 <= exc.smtp_code < 500
    return isinstance(exc, (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError, OSError))


class UnconfirmedDelivery(DeliveryError):
    """The message was handed to the server but its reply never came (timeout, lost
    connection): it may have been delivered, so it is not sent again without ``force``."""


class _Phased:
    """An SMTP client that notes when the message is handed over and then waits for the
    server's reply with ``data_timeout`` instead of the command timeout."""

    data_timeout = 600.0
    data_started = False

    def data(self, msg):
        self.data_started = True
        if self.sock is not None:
            self.sock.settimeout(self.data_timeout)
        return super().data(msg)


class _SMTP(_Phased, smtplib.SMTP):
    pass


class _SMTPSSL(_Phased, smtplib.SMTP_SSL):
    pass


def _deliver_once(msg: EmailMessage, settings: SmtpSettings) -> dict:
    context = ssl.create_default_context()
    if settings.security == "ssl":
        server = _SMTPSSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    else:
        server = _SMTP(settings.host, settings.port, timeout=settings.timeout)
    server.data_timeout = max(settings.data_timeout, settings.timeout)
    ok = False
    try:
        server.ehlo()
        if settings.security == "starttls":
            server.starttls(context=context)
            server.ehlo()
        if settings.user:
            server.login(settings.user, settings.password)
        recipients = [
            a.addr_spec
            for h in ("To", "Cc")
            for header in msg.get_all(h, [])
            for a in header.addresses
        ]
        refused = server.send_message(
            msg, from_addr=msg["From"].addresses[0].addr_spec, to_addrs=recipients
        )
        ok = True
        return refused
    except Exception as exc:
        # the server answered "no" (a reply code): nothing was delivered, the caller may retry.
        # Anything else after the message was handed over leaves the delivery unknown.
        if server.data_started and not isinstance(exc, smtplib.SMTPResponseException):
            raise UnconfirmedDelivery(
                f"{type(exc).__name__} after the message was handed to "
                f"{settings.host}:{settings.port}: {exc}"
            ) from exc
        raise
    finally:
        try:
            if ok:
                server.quit()
            else:
                server.close()
        except Exception:  # connection already gone
            server.close()


def send_message(
    msg: EmailMessage,
    settings: SmtpSettings,
    *,
    retries: int = 3,
    backoff: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Send with up to ``retries`` retries after transient failures, waiting ``backoff * 2**k``.

    Returns the number of attempts. Raises :class:`DeliveryError` (with the last SMTP error)
    when the server stays unreachable or refuses the mail; permanent errors (authentication,
    every recipient refused, 5xx) are not retried.
    """
    last: BaseException | None = None
    for attempt in range(retries + 1):
        try:
            refused = _deliver_once(msg, settings)
        except UnconfirmedDelivery as exc:  # never retried: that could deliver a second copy
            raise UnconfirmedDelivery(
                f"{msg['Subject']!r} may have been delivered: {exc}. Not sent again, so that "
                "nobody gets two copies; check a recipient's inbox and resend with --force "
                f"if it did not arrive (or raise OPSNB_SMTP_DATA_TIMEOUT, now "
                f"{settings.data_timeout:g} s)"
            ) from exc.__cause__
        except Exception as exc:  # noqa: BLE001 - classified below
            last = exc
            if not _transient(exc) or attempt == retries:
                break
            sleep(backoff * 2**attempt)
            continue
        if refused:
            warnings.warn(
                f"some recipients were refused: {sorted(refused)}", OpsnbWarning, stacklevel=2
            )
        return attempt + 1
    where = f"{settings.host}:{settings.port} ({settings.security})"
    raise DeliveryError(
        f"could not send {msg['Subject']!r} via {where} after "
        f"{attempt + 1} attempt(s): {type(last).__name__}: {last}"
    ) from last

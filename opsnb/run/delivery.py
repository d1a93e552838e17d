"""Email delivery of HTML reports: an email-safe copy, SMTP with retries, a record of sends.

Mail clients strip ``<style>`` blocks, scripts and ``data:`` images, so :func:`email_safe_html`
rewrites a report for mail: CSS rules with simple selectors move into ``style=`` attributes
(the rest are dropped), scripts and event handlers go, and every embedded chart becomes a PNG
attachment referenced by Content-ID. Tables are made to fit a mail window and Gmail's ~102 kB
clip (:mod:`opsnb.run.mailtables`): long ones show their first rows and travel in full in an
attached workbook, wide ones are split into parts that repeat the label columns; the
report's card classes and ``data-label`` attributes (for phones, through media queries that
mail clients drop) are removed. :func:`build_report_message` wraps it in
``multipart/alternative > [text/plain, multipart/related > [text/html, image/png...]]`` (inside
``multipart/mixed`` with the attachments) with RFC 2047-encoded Chinese subject and display
names (``email.policy.SMTP``).

SMTP settings come from the environment only (never from files in git)::

    OPSNB_SMTP_HOST, OPSNB_SMTP_PORT, OPSNB_SMTP_USER, OPSNB_SMTP_PASSWORD,
    OPSNB_SMTP_SECURITY=starttls|ssl|none, OPSNB_SMTP_FROM="运营报表 <reports@example.com>"

:class:`SendLog` (``outputs/.sends.jsonl``) remembers what was sent, keyed by report path +
content hash + recipients, so rerunning a batch never sends the same report twice. A mail goes
out exactly once: :func:`send_report` holds a file lock (``.sends.jsonl.lock``) while it checks,
sends and records, so two concurrent sends of one report send one mail; it records
``sending`` before the SMTP transaction and ``sent`` / ``failed`` / ``unconfirmed`` after it.
The wait for the server's reply to the message follows the server (``data_timeout``, ten
minutes as RFC 5321 recommends, not the short command timeout), and a connection lost after
the message was handed over is never retried: the send is ``unconfirmed``
(:class:`UnconfirmedDelivery`) and is not repeated without ``force``, because the server may
well have delivered it.

Examples
--------
>>> settings = smtp_settings_from_env()                         # doctest: +SKIP
>>> send_report("outputs/03_daily/2025-11.html", to=["张三 <zhang@example.com>"],
...             settings=settings)                              # doctest: +SKIP
SendResult(status='sent', ...)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path

from opsnb import config
from opsnb.errors import DeliveryError
from opsnb.run.mailhtml import (
    MAX_IMAGE_WIDTH,  # noqa: F401 - importable from here before the split
    EmailAttachment,
    EmailContent,
    EmailImage,
    email_safe_html,
    html_to_text,
)
from opsnb.run.mailmessage import (
    DEFAULT_SIZE_BUDGET,
    EmailSizeWarning,
    build_digest_message,
    build_report_message,
)
from opsnb.run.smtp import (
    SECURITY_MODES,
    SmtpSettings,
    UnconfirmedDelivery,
    parse_recipients,
    send_message,
    smtp_settings_from_env,
)

__all__ = [
    "SmtpSettings",
    "EmailImage",
    "EmailAttachment",
    "EmailContent",
    "SendResult",
    "SendLog",
    "UnconfirmedDelivery",
    "EmailSizeWarning",
    "DEFAULT_SIZE_BUDGET",
    "SECURITY_MODES",
    "smtp_settings_from_env",
    "parse_recipients",
    "email_safe_html",
    "html_to_text",
    "build_report_message",
    "build_digest_message",
    "send_message",
    "send_report",
    "send_failure_digest",
]


def _addr_specs(recipients: Sequence[str]) -> list[str]:
    return sorted({addr.lower() for _, addr in getaddresses(list(recipients))})


@dataclass(frozen=True)
class SendResult:
    """What :func:`send_report` did: ``status`` is ``"sent"`` or ``"skipped"`` (sent before)."""

    report: str
    status: str
    key: str
    recipients: tuple[str, ...]
    size_bytes: int = 0
    attempts: int = 0
    message_id: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


class SendLog:
    """Append-only JSON-lines record of sends (default ``outputs/.sends.jsonl``).

    Each line is one event of a send, with a ``state``: ``sending`` (written before the SMTP
    transaction), then ``sent``, ``failed`` (the server never had it) or ``unconfirmed`` (it
    may have). Lines without a state (older logs) are ``sent``. :meth:`entries` lists the
    completed sends, :meth:`events` every line.
    """

    LOCK_TIMEOUT = 900.0
    """Seconds a send waits for another send holding the lock before giving up."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else config.outputs_dir() / ".sends.jsonl"

    @staticmethod
    def report_id(report: str | Path) -> str:
        path = Path(report).resolve()
        try:
            return path.relative_to(config.outputs_dir()).as_posix()
        except ValueError:
            return path.as_posix()

    @classmethod
    def key(cls, report: str | Path, recipients: Sequence[str]) -> tuple[str, str]:
        """``(key, content_hash)`` for a report file and its recipients."""
        content = hashlib.sha256(Path(report).read_bytes()).hexdigest()
        raw = json.dumps([cls.report_id(report), content, _addr_specs(recipients)])
        return hashlib.sha256(raw.encode()).hexdigest(), content

    def events(self) -> list[dict]:
        """Every line of the log (a torn last line after a crash is skipped)."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a torn last line after a crash
                continue
        return out

    def entries(self) -> list[dict]:
        """The completed sends (state ``sent``), oldest first."""
        return [e for e in self.events() if e.get("state", "sent") == "sent"]

    def last(self, key: str) -> dict | None:
        """The latest event of ``key`` (None when it was never sent)."""
        found = [e for e in self.events() if e.get("key") == key]
        return found[-1] if found else None

    def was_sent(self, key: str) -> bool:
        return any(e.get("key") == key for e in self.entries())

    def record(self, entry: dict) -> None:
        """Append one line in a single ``write`` (O_APPEND) and flush it to disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(entry, ensure_ascii=False) + "\n"
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextmanager
    def lock(self, timeout: float | None = None):
        """Hold ``<log>.lock`` (an exclusive ``flock``) for a check-send-record sequence."""
        try:
            import fcntl
        except ImportError:  # Windows: no flock; sends are then only protected by the log
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            deadline = time.monotonic() + (self.LOCK_TIMEOUT if timeout is None else timeout)
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        raise DeliveryError(
                            f"another opsnb send holds {lock_path}: wait for it to finish "
                            "(or remove the file if no opsnb process is running)"
                        ) from None
                    time.sleep(0.2)
            yield
        finally:
            os.close(fd)  # releases the lock


def send_report(
    report: str | Path,
    *,
    to: Sequence[str] | str,
    cc: Sequence[str] | str = (),
    subject: str | None = None,
    settings: SmtpSettings | None = None,
    log: SendLog | None = None,
    force: bool = False,
    size_budget: int | None = None,
    retries: int = 3,
    backoff: float = 2.0,
    attachments: Sequence[str | Path] = (),
) -> SendResult:
    """Send one HTML report unless the same content already went to the same recipients.

    ``attachments``: files sent with it (``opsnb daily`` attaches the day's 表3 Excel).

    Exactly once: under the log's lock, a ``sending`` line is written before the SMTP
    transaction and a ``sent`` line only after the server accepted the mail, so a failure
    (:class:`DeliveryError`) leaves nothing marked as sent; a concurrent send of the same
    report waits for the lock and then finds it sent (``skipped``). When an earlier send
    ended unconfirmed (or its process died mid-send), the report is not sent again without
    ``force``: :class:`UnconfirmedDelivery` says so.
    """
    to_list, cc_list = parse_recipients(to), parse_recipients(cc)
    recipients = tuple(to_list + cc_list)
    log = log or SendLog()
    key, content_hash = SendLog.key(report, recipients)
    with log.lock():
        last = log.last(key)
        state = None if last is None else last.get("state", "sent")
        if not force and state == "sent":
            return SendResult(str(report), "skipped", key, recipients)
        if not force and state in ("sending", "unconfirmed"):
            when = last.get("at") or last.get("sent_at") or "earlier"
            raise UnconfirmedDelivery(
                f"{SendLog.report_id(report)} may already have reached "
                f"{', '.join(_addr_specs(recipients))} (a send at {when} ended "
                f"{'without an answer from the server' if state == 'unconfirmed' else 'abruptly'}"
                "): not sent again; check a recipient's inbox and use --force to resend"
            )
        settings = settings or smtp_settings_from_env()
        msg = build_report_message(
            report,
            to=to_list,
            cc=cc_list,
            subject=subject,
            sender=settings.sender,
            size_budget=size_budget,
            attachments=attachments,
        )
        size = len(msg.as_bytes())
        base = {
            "key": key,
            "report": SendLog.report_id(report),
            "content_sha256": content_hash,
            "recipients": _addr_specs(recipients),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "size_bytes": size,
        }

        def now() -> str:
            return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")

        log.record({**base, "state": "sending", "at": now()})
        try:
            attempts = send_message(msg, settings, retries=retries, backoff=backoff)
        except UnconfirmedDelivery as exc:
            log.record({**base, "state": "unconfirmed", "at": now(), "error": str(exc)})
            raise
        except Exception as exc:  # the server refused it or was never reached
            log.record({**base, "state": "failed", "at": now(), "error": str(exc)})
            raise
        except BaseException:  # interrupted (Ctrl-C) mid-transaction: it may have gone out
            log.record({**base, "state": "unconfirmed", "at": now(), "error": "interrupted"})
            raise
        log.record({**base, "state": "sent", "at": now(), "sent_at": now()})
    return SendResult(str(report), "sent", key, recipients, size, attempts, str(msg["Message-ID"]))


def send_failure_digest(
    failures: Sequence[Mapping | object],
    *,
    to: Sequence[str] | str,
    settings: SmtpSettings | None = None,
    lang: str = "zh",
    retries: int = 3,
    backoff: float = 2.0,
) -> EmailMessage | None:
    """Mail the list of failed runs (each with ``notebook, slug, error, partial_path``).

    Returns the message sent, or ``None`` when there was nothing to report.
    """
    if not failures:
        return None
    settings = settings or smtp_settings_from_env()
    msg = build_digest_message(failures, to=parse_recipients(to), sender=settings.sender, lang=lang)
    send_message(msg, settings, retries=retries, backoff=backoff)
    return msg

"""What a batch produced: each run's outcome, the batch summary, and mailing them.

:class:`BatchRun` is one run's outcome, :class:`BatchSummary` all of them (its ``exit_code`` is
1 when any run or delivery failed); :func:`deliver` mails the ok reports and a failure digest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

__all__ = ["BatchRun", "BatchSummary", "deliver"]


@dataclass(frozen=True)
class BatchRun:
    """Outcome of one job: ``status`` is ``ok``, ``failed``, ``timeout`` or ``skipped``."""

    notebook: str
    slug: str
    status: str
    duration_s: float
    html_path: str | None = None
    partial_path: str | None = None
    error: str = ""
    params_file: str | None = None
    recipients: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    kernel_s: float = 0.0  # time inside papermill (kernel start + cells)
    worker_pid: int = 0

    @property
    def name(self) -> str:
        return f"{self.notebook}/{self.slug}"

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "skipped")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class BatchSummary:
    """All runs of a batch, in plan order, plus deliveries and the wall-clock time."""

    results: list[BatchRun]
    elapsed_s: float
    workers: int
    sends: list = field(default_factory=list)
    delivery_errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> list[BatchRun]:
        return [r for r in self.results if not r.ok]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.delivery_errors else 0

    def to_frame(self):
        """Columns: run, status, duration_s, output, error."""
        import pandas as pd

        return pd.DataFrame(
            [
                {
                    "run": r.name,
                    "status": r.status,
                    "duration_s": r.duration_s,
                    "output": r.html_path or r.partial_path or "",
                    "error": r.error,
                }
                for r in self.results
            ],
            columns=["run", "status", "duration_s", "output", "error"],
        )

    def table(self) -> str:
        """The summary as an aligned text table (run, status, duration, output, error)."""
        rows = [("run", "status", "duration", "output", "error")]
        for r in self.results:
            err = r.error.strip().splitlines()[-1] if r.error.strip() else ""
            rows.append(
                (
                    r.name,
                    r.status,
                    f"{r.duration_s:.1f} s",
                    _short(r.html_path or r.partial_path or ""),
                    err[:100],
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(row[:4], widths)) + "  " + row[4] for row in rows
        ]
        counts = {
            s: sum(r.status == s for r in self.results)
            for s in ("ok", "skipped", "failed", "timeout")
        }
        lines.append(
            f"{len(self.results)} runs in {self.elapsed_s:.1f} s on {self.workers} "
            "workers: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
        )
        return "\n".join(line.rstrip() for line in lines)


def _short(path: str) -> str:
    if not path:
        return ""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def deliver(
    summary: BatchSummary,
    *,
    settings=None,
    digest_to: Sequence[str] | None = None,
    lang: str = "zh",
    retries: int = 3,
) -> BatchSummary:
    """Mail every ok report to its params' recipients (once) and a digest of failures.

    The digest goes to ``digest_to``, else ``$OPSNB_DIGEST_TO``, else the recipients of the
    failed runs. Delivery errors are collected in ``summary.delivery_errors``.
    """
    from opsnb.errors import DeliveryError
    from opsnb.run.delivery import send_failure_digest, send_report
    from opsnb.run.smtp import smtp_settings_from_env

    try:
        settings = settings or smtp_settings_from_env()
    except Exception as exc:  # noqa: BLE001
        summary.delivery_errors.append(str(exc))
        return summary
    todo = [
        r
        for r in summary.results
        if r.ok and r.recipients and r.html_path and Path(r.html_path).is_file()
    ]
    for k, r in enumerate(todo):
        try:
            summary.sends.append(
                send_report(
                    r.html_path, to=r.recipients, cc=r.cc, settings=settings, retries=retries
                )
            )
        except (DeliveryError, OSError) as exc:
            summary.delivery_errors.append(f"{r.name}: {exc}")
            if _unreachable(exc):  # no point waiting through the back-off for every report
                summary.delivery_errors.extend(
                    f"{q.name}: not sent (SMTP server unreachable)" for q in todo[k + 1 :]
                )
                return summary
    if summary.failed:
        to = list(digest_to or [])
        if not to and os.environ.get("OPSNB_DIGEST_TO"):
            to = [os.environ["OPSNB_DIGEST_TO"]]
        if not to:
            to = sorted({a for r in summary.failed for a in r.recipients})
        if to:
            try:
                send_failure_digest(
                    summary.failed, to=to, settings=settings, lang=lang, retries=retries
                )
            except DeliveryError as exc:
                summary.delivery_errors.append(f"failure digest: {exc}")
    return summary


def _unreachable(exc: BaseException) -> bool:
    import smtplib

    cause = exc.__cause__ or exc
    return isinstance(
        cause,
        (
            ConnectionError,
            TimeoutError,
            smtplib.SMTPConnectError,
            smtplib.SMTPServerDisconnected,
            smtplib.SMTPAuthenticationError,
        ),
    )

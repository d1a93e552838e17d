"""The MIME messages opsnb sends: a report's mail and the digest of failed runs.

:func:`build_report_message` builds the structure described in :mod:`opsnb.run.delivery` and
warns (:class:`EmailSizeWarning`) above the size budget.
"""

from __future__ import annotations

import html as _html
import os
import warnings
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, make_msgid
from pathlib import Path

from opsnb.errors import OpsnbWarning, ParameterError
from opsnb.run.mailhtml import EmailContent, email_safe_html, html_to_text
from opsnb.run.smtp import parse_recipients

__all__ = [
    "EmailSizeWarning",
    "DEFAULT_SIZE_BUDGET",
    "build_report_message",
    "build_digest_message",
]


DEFAULT_SIZE_BUDGET = 8 * 1024 * 1024
"""Bytes above which a mail triggers :class:`EmailSizeWarning` (corporate servers often cap
at 10 MB; ``$OPSNB_EMAIL_MAX_BYTES`` overrides it)."""


class EmailSizeWarning(OpsnbWarning):
    """A report mail is larger than the size budget; some servers will bounce it."""


def _new_message(subject: str, sender: str, to: Sequence[str], cc: Sequence[str]) -> EmailMessage:
    if not to:
        raise ParameterError("no recipients: give --to or a 'recipients' key in the params file")
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
    msg["Date"] = formatdate(localtime=True)
    domain = sender.rsplit("@", 1)[-1].strip(">").strip() or "opsnb.local"
    msg["Message-ID"] = make_msgid(domain=domain)
    msg["X-Mailer"] = "opsnb"
    return msg


def _attach(msg: EmailMessage, content: EmailContent) -> None:
    # base64 keeps the mail 7-bit (servers without 8BITMIME) and is compact for Chinese text
    msg.set_content(content.text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(content.html, subtype="html", charset="utf-8", cte="base64")
    html_part = msg.get_payload()[1]
    for img in content.images:
        html_part.add_related(
            img.data,
            maintype="image",
            subtype=img.subtype,
            cid=f"<{img.cid}>",
            filename=img.filename,
            disposition="inline",
        )


def _check_size(msg: EmailMessage, budget: int | None, what: str) -> int:
    size = len(msg.as_bytes())
    budget = DEFAULT_SIZE_BUDGET if budget is None else budget
    env_budget = os.environ.get("OPSNB_EMAIL_MAX_BYTES")
    if env_budget and budget == DEFAULT_SIZE_BUDGET:
        budget = int(env_budget)
    if budget and size > budget:
        warnings.warn(
            f"{what}: mail is {size / 1e6:.1f} MB, above the {budget / 1e6:.1f} MB "
            "budget; some servers will bounce it (fewer or smaller charts help)",
            EmailSizeWarning,
            stacklevel=3,
        )
    return size


def build_report_message(
    report: str | Path,
    *,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject: str | None = None,
    sender: str = "opsnb@localhost",
    size_budget: int | None = None,
    attachments: Sequence[str | Path] = (),
) -> EmailMessage:
    """The mail for one HTML report (see the module docstring for its MIME structure).

    ``attachments`` (e.g. the 表3 Excel) are added as files, after the workbook of the tables
    cut for the mail (``<report>-tables.xlsx``, when a table had more rows than a mail shows),
    which makes the mail ``multipart/mixed > [multipart/alternative …, attachments…]``."""
    path = Path(report)
    if not path.is_file():
        raise FileNotFoundError(f"no report at {path}")
    content = email_safe_html(
        path.read_text(encoding="utf-8"),
        base_dir=path.parent,
        workbook_name=f"{path.stem}-tables.xlsx",
    )
    msg = _new_message(
        subject or content.title or path.stem, sender, parse_recipients(to), parse_recipients(cc)
    )
    _attach(msg, content)
    for f in content.attachments:
        msg.add_attachment(f.data, maintype=f.maintype, subtype=f.subtype, filename=f.filename)
    for a in attachments:
        _attach_file(msg, Path(a))
    _check_size(msg, size_budget, str(path))
    return msg


_ATTACHMENT_TYPES = {
    ".xlsx": ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".csv": ("text", "csv"),
    ".pdf": ("application", "pdf"),
}


def _attach_file(msg: EmailMessage, path: Path) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"no attachment at {path}")
    maintype, subtype = _ATTACHMENT_TYPES.get(path.suffix.lower(), ("application", "octet-stream"))
    msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)


def _esc(x) -> str:
    return _html.escape(str(x if x is not None else ""))


def build_digest_message(
    failures: Sequence[Mapping | object],
    *,
    to: Sequence[str],
    sender: str = "opsnb@localhost",
    lang: str = "zh",
) -> EmailMessage:
    """A mail listing failed runs: run, params file, error, partial notebook."""
    rows = []
    for f in failures:
        get = f.get if isinstance(f, Mapping) else lambda k, o=f: getattr(o, k, "")
        run = f"{Path(str(get('notebook') or '')).stem}/{get('slug') or ''}"
        error = str(get("error") or "").strip().splitlines()
        rows.append(
            (
                run,
                str(get("params_file") or ""),
                error[-1] if error else "",
                str(get("partial_path") or ""),
            )
        )
    n = len(rows)
    subject = (
        f"opsnb：{n} 个报表运行失败"
        if lang == "zh"
        else f"opsnb: {n} report run{'s' if n != 1 else ''} failed"
    )
    heads = (
        ("运行", "参数文件", "错误", "部分笔记本")
        if lang == "zh"
        else ("Run", "Params file", "Error", "Partial notebook")
    )
    cell = "border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top"
    html_rows = "".join(
        "<tr>" + "".join(f'<td style="{cell}">{_esc(v)}</td>' for v in r) + "</tr>" for r in rows
    )
    html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        f'{_esc(subject)}</title></head><body style="font-family:sans-serif">'
        f'<h2 style="color:#b00020">{_esc(subject)}</h2>'
        '<table style="border-collapse:collapse"><tr>'
        + "".join(f'<th style="{cell};background:#f3f3f3">{h}</th>' for h in heads)
        + f"</tr>{html_rows}</table></body></html>"
    )
    content = EmailContent(html=html, text=html_to_text(html), images=(), title=subject)
    msg = _new_message(subject, sender, parse_recipients(to), [])
    _attach(msg, content)
    return msg

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

import base64
import datetime as dt
import hashlib
import html as _html
import json
import os
import re
import smtplib
import ssl
import struct
import time
import unicodedata
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate, getaddresses, make_msgid
from pathlib import Path

from opsnb import config
from opsnb.errors import DeliveryError, OpsnbWarning, ParameterError
from opsnb.run.mailtables import MAIL_MAX_COLS, MAIL_MAX_ROWS, fit_tables, tables_workbook

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

SECURITY_MODES = ("starttls", "ssl", "none")
DEFAULT_SIZE_BUDGET = 8 * 1024 * 1024
"""Bytes above which a mail triggers :class:`EmailSizeWarning` (corporate servers often cap
at 10 MB; ``$OPSNB_EMAIL_MAX_BYTES`` overrides it)."""
MAX_IMAGE_WIDTH = 680
"""Charts wider than this get a ``width`` attribute so that Outlook does not overflow."""


class EmailSizeWarning(OpsnbWarning):
    """A report mail is larger than the size budget; some servers will bounce it."""


# --------------------------------------------------------------------------------- settings


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


def _addr_specs(recipients: Sequence[str]) -> list[str]:
    return sorted({addr.lower() for _, addr in getaddresses(list(recipients))})


# ------------------------------------------------------------------------- email-safe HTML


@dataclass(frozen=True)
class EmailImage:
    """An inline image of a mail: ``cid`` without angle brackets, raw bytes, MIME subtype."""

    cid: str
    data: bytes
    subtype: str
    filename: str


@dataclass(frozen=True)
class EmailAttachment:
    """A file sent with a mail (the workbook of the tables cut for it): name, bytes, MIME type."""

    filename: str
    data: bytes
    maintype: str = "application"
    subtype: str = "vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class EmailContent:
    """An email-safe report: HTML referencing ``cid:`` images, its plain text, the images,
    and the files to attach (the full tables cut for the mail)."""

    html: str
    text: str
    images: tuple[EmailImage, ...]
    title: str
    attachments: tuple[EmailAttachment, ...] = ()


_DROP_TAGS = (
    "script",
    "noscript",
    "link",
    "iframe",
    "object",
    "embed",
    "form",
    "input",
    "button",
    "base",
    "template",
)
_COMPOUND = r"(?:[a-zA-Z][\w-]*(?:[.#][\w-]+)*|(?:[.#][\w-]+)+)"
_SIMPLE_SELECTOR = re.compile(rf"^{_COMPOUND}(?:\s*>\s*{_COMPOUND}|\s+{_COMPOUND})*$")


def _css_rules(css: str) -> list[tuple[str, str]]:
    """Top-level ``(selector, declarations)`` pairs; at-rules (``@media``...) are dropped."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    rules, i, n = [], 0, len(css)
    while i < n:
        brace = css.find("{", i)
        semi = css.find(";", i)
        if brace < 0:
            break
        if css[i:].lstrip().startswith("@") and 0 <= semi < brace:  # @import x; @charset
            i = semi + 1
            continue
        head = css[i:brace].strip()
        depth, j = 1, brace + 1
        while j < n and depth:
            depth += {"{": 1, "}": -1}.get(css[j], 0)
            j += 1
        body = css[brace + 1 : j - 1]
        if not head.startswith("@"):
            rules.append((head, body))
        i = j
    return rules


def _declarations(body: str) -> list[tuple[str, str, bool]]:
    out = []
    for decl in body.split(";"):
        if ":" not in decl:
            continue
        prop, value = decl.split(":", 1)
        prop, value = prop.strip().lower(), value.strip()
        important = "!important" in value
        value = value.replace("!important", "").strip()
        # mail clients understand neither custom properties nor url() (and url may be data:)
        if not prop or prop.startswith("--") or "var(" in value or "url(" in value.lower():
            continue
        out.append((prop, value, important))
    return out


def _specificity(selector: str) -> tuple[int, int, int]:
    return (
        selector.count("#"),
        selector.count("."),
        len(re.findall(r"(?:^|[\s>])[a-zA-Z]", selector)),
    )


def _inline_css(soup) -> None:
    """Move ``<style>`` rules with simple selectors into ``style=`` attributes; drop the rest."""
    rules = []
    for style in soup.find_all("style"):
        rules.extend(_css_rules(style.get_text()))
        style.decompose()
    applied: dict[int, list] = {}
    elements: dict[int, object] = {}
    order = 0
    for head, body in rules:
        decls = _declarations(body)
        if not decls:
            continue
        for selector in (s.strip() for s in head.split(",")):
            if not selector or not _SIMPLE_SELECTOR.match(selector):
                continue  # pseudo-classes, attribute selectors, *: not for mail
            try:
                matches = soup.select(selector)
            except Exception:  # soupsieve rejects it: drop the rule
                continue
            spec = _specificity(selector)
            for el in matches:
                for prop, value, important in decls:
                    order += 1
                    applied.setdefault(id(el), []).append(((important, spec, order), prop, value))
                    elements[id(el)] = el
    for key, items in applied.items():
        el = elements[key]
        props: dict[str, str] = {}
        for _, prop, value in sorted(items, key=lambda t: t[0]):
            props[prop] = value
        own = el.get("style", "")
        merged = "; ".join(f"{p}: {v}" for p, v in props.items())
        el["style"] = f"{merged}; {own}".strip("; ") if own else merged


_LAYOUT_CLASS = re.compile(
    r"^(data|row\d+|col\d+|level\d+|col_heading|row_heading|index_name|blank|opsnb-table"
    r"|cell|code_cell|text_cell|border-box-sizing|rendered|rendered_html|inner_cell"
    r"|text_cell_render|output|output_wrapper|output_area|output_subarea|output_\w+|jp-\S+)$"
)
"""Classes of pandas' Styler and nbconvert that mean nothing once the styles are inline."""
_LAYOUT_ID = re.compile(r"^(T_[0-9a-f]+(_\S+)?|cell-id=\S+)$")


def _drop_layout_markup(soup) -> None:
    """Remove Styler's per-cell ids (``T_1a2b3_row0_col4``) and nbconvert's wrapper classes
    after inlining: a third of a report's mail bytes, and no mail client uses them. A cell's
    ``min-width`` goes too, and a long text cell may wrap: both would keep a wide table from
    shrinking into an 800 px mail window."""
    for cell in soup.find_all(["td", "th"], style=True):
        style = re.sub(r"(^|;)\s*min-width\s*:[^;]*", r"\1", cell["style"]).strip("; ")
        if cell.name == "td" and len(cell.get_text(strip=True)) > 12 and "nowrap" in style:
            style = style.replace("white-space: nowrap", "white-space: normal")
        if style:
            cell["style"] = style
        else:
            del cell["style"]
    for el in soup.find_all(True):
        if _LAYOUT_ID.match(str(el.get("id", ""))):
            del el["id"]
        if el.get("class"):
            kept = [c for c in el["class"] if not _LAYOUT_CLASS.match(c)]
            if kept:
                el["class"] = kept
            else:
                del el["class"]


def _png_width(data: bytes) -> int | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">I", data[16:20])[0]
    return None


def _extract_images(soup, base_dir: Path | None) -> list[EmailImage]:
    images: list[EmailImage] = []
    for n, img in enumerate(soup.find_all("img"), start=1):
        src = (img.get("src") or "").strip()
        data, subtype = None, None
        m = re.match(r"data:image/(png|jpe?g|gif);base64,(.*)$", src, flags=re.S | re.I)
        if m:
            subtype = m.group(1).lower().replace("jpg", "jpeg")
            data = base64.b64decode(re.sub(r"\s+", "", m.group(2)))
        elif (
            src
            and not re.match(r"^(https?|cid):", src, flags=re.I)
            and base_dir is not None
            and not src.startswith("data:")
        ):
            path = (base_dir / src).resolve()
            ext = path.suffix.lower().lstrip(".")
            if path.is_file() and ext in ("png", "jpg", "jpeg", "gif"):
                data, subtype = path.read_bytes(), ext.replace("jpg", "jpeg")
        if data is None:
            if src.lower().startswith("data:") or (src and not re.match(r"^https?:", src, re.I)):
                # SVG or an unreadable source: mail clients would show a broken image
                alt = img.get("alt") or "chart"
                img.replace_with(soup.new_string(f"[{alt}]"))
            continue
        digest = hashlib.sha256(data).hexdigest()[:12]
        cid = f"chart{n}.{digest}@opsnb"
        images.append(
            EmailImage(
                cid=cid,
                data=data,
                subtype=subtype,
                filename=f"chart{n}.{'jpg' if subtype == 'jpeg' else subtype}",
            )
        )
        img["src"] = f"cid:{cid}"
        img["alt"] = img.get("alt") or f"chart {n}"
        width = _png_width(data) if subtype == "png" else None
        if width and width > MAX_IMAGE_WIDTH and not img.get("width"):
            img["width"] = str(MAX_IMAGE_WIDTH)
        style = img.get("style", "")
        img["style"] = (style + "; " if style else "") + "max-width: 100%; height: auto"
    return images


_BLOCKS = {
    "p",
    "div",
    "section",
    "article",
    "header",
    "footer",
    "main",
    "ul",
    "ol",
    "table",
    "tr",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "caption",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "li",
    "br",
    "hr",
    "body",
}


def html_to_text(html_or_soup) -> str:
    """A readable plain-text version: headings underlined, tables as ``a | b`` rows."""
    from bs4 import BeautifulSoup, NavigableString, Tag

    soup = (
        BeautifulSoup(html_or_soup, "html.parser")
        if isinstance(html_or_soup, str)
        else html_or_soup
    )
    root = soup.body or soup
    lines: list[str] = []
    current: list[str] = []

    def flush():
        text = re.sub(r"[ \t\r\f\v]+", " ", "".join(current)).strip()
        current.clear()
        if text:
            lines.append(text)

    def walk(node):
        for child in node.children:
            if isinstance(child, NavigableString):
                if type(child).__name__ in ("Comment", "Doctype", "Declaration"):
                    continue
                current.append(re.sub(r"\s+", " ", str(child)))
                continue
            if not isinstance(child, Tag) or child.name in ("style", "script", "head", "title"):
                continue
            name = child.name
            if name == "img":
                current.append(f"[{child.get('alt') or 'chart'}]")
            elif name == "tr":
                flush()
                cells = [
                    re.sub(r"\s+", " ", c.get_text(" ")).strip()
                    for c in child.find_all(["th", "td"], recursive=False)
                ]
                lines.append(" | ".join(cells))
            elif name in ("h1", "h2", "h3"):
                flush()
                title = re.sub(r"\s+", " ", child.get_text(" ")).strip()
                if title:
                    width = sum(
                        2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in title
                    )
                    lines.extend(["", title, ("=" if name == "h1" else "-") * max(4, width)])
            elif name == "a" and child.get("href", "").startswith("http"):
                walk(child)
                current.append(f" ({child['href']})")
            elif name in _BLOCKS:
                flush()
                if name == "li":
                    current.append("- ")
                walk(child)
                flush()
            else:
                walk(child)

    walk(root)
    flush()
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


_URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "poster", "background"}


def _scripted_url(value) -> bool:
    """A ``javascript:``/``vbscript:`` URL, also when tabs, newlines or NULs are spread in the
    scheme (browsers drop them, so a tab inside ``javascript:`` still runs)."""
    text = " ".join(value) if isinstance(value, list) else str(value)
    return re.sub(r"[\x00-\x20]", "", text).lower().startswith(("javascript:", "vbscript:"))


def email_safe_html(
    html: str,
    *,
    base_dir: str | Path | None = None,
    max_rows: int | None = MAIL_MAX_ROWS,
    max_cols: int | None = MAIL_MAX_COLS,
    workbook_name: str = "tables.xlsx",
) -> EmailContent:
    """Rewrite a report's HTML for mail clients.

    Inline styles from ``<style>`` rules with simple selectors (tag, ``.class``, ``#id``,
    compounds and descendants; pseudo-classes, ``@media``, custom properties and ``url()``
    are dropped), remove scripts, forms, frames and ``on*`` handlers, and turn ``data:`` and
    local images into ``cid:`` references to :class:`EmailImage` attachments. Tables of more
    than ``max_rows`` rows keep their first ones and go in full into ``workbook_name``
    (an :class:`EmailAttachment`); tables of more than ``max_cols`` columns are split
    (:func:`opsnb.run.mailtables.fit_tables`; ``None`` keeps them whole).
    """
    from bs4 import BeautifulSoup, Comment

    from opsnb.run.render import STACK_CLASSES

    soup = BeautifulSoup(html, "html.parser")
    lang = "zh" if (soup.html and soup.html.get("lang", "").startswith("zh")) else "en"
    cards = {cls for _, cls in STACK_CLASSES}
    for table in soup.find_all("table"):  # cards need media queries: a mail shows tables
        if table.get("class"):
            table["class"] = [c for c in table["class"] if c not in cards]
    for cell in soup.find_all(attrs={"data-label": True}):
        del cell["data-label"]
    cut = fit_tables(
        soup, lang=lang, max_rows=max_rows, max_cols=max_cols, workbook_name=workbook_name
    )
    attachments = (
        (EmailAttachment(filename=workbook_name, data=tables_workbook(cut)),) if cut else ()
    )
    title_tag = soup.find("title")
    title = title_tag.get_text().strip() if title_tag else ""
    if not title:
        h1 = soup.find("h1")
        title = h1.get_text(" ").strip() if h1 else ""
    for tag in soup.find_all(_DROP_TAGS):
        tag.decompose()
    for a in soup.find_all("a", class_="anchor-link"):  # nbconvert's heading permalinks (¶)
        a.decompose()
    for img in soup.find_all("img"):
        if not img.get("alt") or img["alt"].startswith("No description has been provided"):
            img["alt"] = (
                "图表" if (soup.html and soup.html.get("lang", "").startswith("zh")) else "chart"
            )
    for svg in soup.find_all("svg"):
        svg.replace_with(soup.new_string("[chart]"))
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment)):
        comment.extract()
    for meta in soup.find_all("meta"):
        if meta.get("http-equiv", "").lower() == "refresh":
            meta.decompose()
    _inline_css(soup)
    _drop_layout_markup(soup)
    for el in soup.find_all(True):
        for attr in list(el.attrs):
            value = el.attrs[attr]
            if attr.lower().startswith("on"):
                del el.attrs[attr]
            elif attr.lower() in _URL_ATTRS and _scripted_url(value):
                del el.attrs[attr]
            elif (
                attr in ("href", "background")
                and isinstance(value, str)
                and value.strip().lower().startswith("data:")
            ):
                del el.attrs[attr]
    images = _extract_images(soup, Path(base_dir) if base_dir else None)
    text = html_to_text(soup)
    out = str(soup)
    if not out.lstrip().lower().startswith("<!doctype"):
        out = "<!DOCTYPE html>\n" + out
    return EmailContent(
        html=out, text=text, images=tuple(images), title=title, attachments=attachments
    )


# --------------------------------------------------------------------------------- messages


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


# ------------------------------------------------------------------------------------ SMTP


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


# ----------------------------------------------------------------------------- send record


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

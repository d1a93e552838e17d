"""An email-safe copy of an HTML report: inlined CSS, no scripts, charts as ``cid:`` images.

:func:`email_safe_html` does the rewrite described in :mod:`opsnb.run.delivery` (tables are
fitted to a mail window by :mod:`opsnb.run.mailtables`); :func:`html_to_text` is the plain-text
part of the mail.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from opsnb.run.mailtables import MAIL_MAX_COLS, MAIL_MAX_ROWS, fit_tables, tables_workbook

__all__ = [
    "EmailImage",
    "EmailAttachment",
    "EmailContent",
    "MAX_IMAGE_WIDTH",
    "email_safe_html",
    "html_to_text",
]


MAX_IMAGE_WIDTH = 680
"""Charts wider than this get a ``width`` attribute so that Outlook does not overflow."""


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

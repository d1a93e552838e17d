"""Report periods: ``2025-Q4``, ``2025-11``, ``2025-11-01..2025-11-30``, ``yesterday`` … as dates.

A :class:`Period` is an inclusive date range with the label it was parsed from; every step of the
ops cycle (goals, monitoring, retrospectives) and the run layer speak it. ``period`` always means
the report period; a seasonal cycle is a ``season`` (see :mod:`opsnb.monitoring`).

Relative periods (``yesterday``, ``last-7-days``, ``last-week``, ``mtd``) resolve from a clock:
:func:`shop_today` is today's date *in the shop's time zone* (``$OPSNB_TZ``, default
Asia/Shanghai, so a cron job on a UTC server at 01:00 still reports the Chinese yesterday),
or the date a rerun asks for (``--today`` on the command line, ``$OPSNB_TODAY`` in a kernel).
"""

from __future__ import annotations

import calendar as _cal
import datetime as dt
import os
import re
from dataclasses import dataclass

from opsnb.errors import ParameterError

__all__ = [
    "Period",
    "parse_date",
    "parse_period",
    "is_relative",
    "shop_today",
    "DEFAULT_TIMEZONE",
    "TIMEZONE_ENV",
    "TODAY_ENV",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"
"""The shop's time zone when neither the caller nor ``$OPSNB_TZ`` names one."""
TIMEZONE_ENV = "OPSNB_TZ"
"""Environment variable naming the shop's time zone (IANA name, e.g. Asia/Shanghai)."""
TODAY_ENV = "OPSNB_TODAY"
"""Environment variable fixing "today" (YYYY-MM-DD) for reruns; ``--today`` sets it for kernels."""


def shop_today(
    today: dt.date | str | None = None, *, tz: str | None = None, now: dt.datetime | None = None
) -> dt.date:
    """Today's date in the shop's time zone: ``today`` if given, else ``$OPSNB_TODAY``, else the
    clock (``now``, default the current instant) in ``tz`` (default ``$OPSNB_TZ`` or
    :data:`DEFAULT_TIMEZONE`).

    >>> shop_today(now=dt.datetime(2025, 9, 27, 17, 30, tzinfo=dt.timezone.utc), tz="Asia/Shanghai")
    datetime.date(2025, 9, 28)
    """
    if today:
        return parse_date(today)
    env = os.environ.get(TODAY_ENV, "").strip()
    if env:
        return parse_date(env)
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = tz or os.environ.get(TIMEZONE_ENV, "").strip() or DEFAULT_TIMEZONE
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ParameterError(
            f"unknown time zone {name!r}: use an IANA name such as Asia/Shanghai"
        ) from None
    instant = now or dt.datetime.now(dt.timezone.utc)
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=dt.timezone.utc)
    return instant.astimezone(zone).date()


def is_relative(text: str) -> bool:
    """True when the period label depends on the date it is read on (``yesterday``, ``mtd`` …)."""
    if not str(text or "").strip():
        return False
    ref = dt.date(2001, 1, 10)
    try:
        return parse_period(text, as_of=ref) != parse_period(text, as_of=ref + dt.timedelta(400))
    except ParameterError:
        return False


@dataclass(frozen=True)
class Period:
    """An inclusive date range with the label it was parsed from."""

    start: dt.date
    end: dt.date
    label: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Period:
        """The period of the same length just before this one."""
        end = self.start - dt.timedelta(days=1)
        return Period(end - dt.timedelta(days=self.days - 1), end, f"before {self.label}")

    def last_year(self) -> Period:
        """The same dates one year earlier (29 Feb maps to 28 Feb)."""
        return Period(_minus_year(self.start), _minus_year(self.end), f"{self.label} -1y")

    def __str__(self) -> str:
        if self.start == self.end:
            return self.start.isoformat()
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def _minus_year(d: dt.date) -> dt.date:
    try:
        return d.replace(year=d.year - 1)
    except ValueError:
        return d.replace(year=d.year - 1, day=28)


_DATE_RES = (
    (re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"), "ymd"),
    (re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"), "ymd"),
    (re.compile(r"^(\d{4})(\d{2})(\d{2})$"), "ymd"),
    (re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"), "ymd"),
)


def parse_date(text: str | dt.date) -> dt.date:
    """Parse 2025-11-11, 2025/11/11, 20251111 or 2025年11月11日."""
    if isinstance(text, dt.datetime):
        return text.date()
    if isinstance(text, dt.date):
        return text
    s = str(text).strip()
    for rx, _ in _DATE_RES:
        m = rx.match(s)
        if m:
            y, mo, d = (int(g) for g in m.groups())
            try:
                return dt.date(y, mo, d)
            except ValueError:
                break
    raise ParameterError(f"not a date: {text!r} (expected e.g. 2025-11-11, 2025/11/11 or 20251111)")


def _month_end(y: int, m: int) -> dt.date:
    return dt.date(y, m, _cal.monthrange(y, m)[1])


def parse_period(text: str, *, as_of: dt.date | str | None = None) -> Period:
    """Parse a period label into an inclusive :class:`Period`.

    Absolute: ``2025``, ``2025-Q4``, ``2025-11``, ``2025-11-11``, ``2025-11-01..2025-11-30``.
    Relative to ``as_of`` (default :func:`shop_today`): ``yesterday``, ``today``, ``last-7-days``
    (any N, ending yesterday), ``last-week`` (Monday–Sunday), ``mtd`` (month to date: the 1st of
    yesterday's month to yesterday, the last complete day), ``last-month``, ``this-month``,
    ``this-quarter``, ``last-quarter`` (``this-*`` end on ``as_of``).

    Examples
    --------
    >>> parse_period("2025-Q4")
    Period(start=datetime.date(2025, 10, 1), end=datetime.date(2025, 12, 31), label='2025-Q4')
    """
    s = str(text).strip()
    today = parse_date(as_of) if as_of else shop_today()
    low = s.lower()
    if ".." in s:
        a, b = s.split("..", 1)
        start, end = parse_date(a), parse_date(b)
        if end < start:
            raise ParameterError(f"period {s!r} ends before it starts")
        return Period(start, end, s)
    if m := re.fullmatch(r"(\d{4})", s):
        y = int(m.group(1))
        return Period(dt.date(y, 1, 1), dt.date(y, 12, 31), s)
    if m := re.fullmatch(r"(\d{4})-?[Qq]([1-4])", s):
        y, q = int(m.group(1)), int(m.group(2))
        return Period(dt.date(y, 3 * q - 2, 1), _month_end(y, 3 * q), f"{y}-Q{q}")
    if m := re.fullmatch(r"(\d{4})-(\d{1,2})", s):
        y, mo = int(m.group(1)), int(m.group(2))
        if not 1 <= mo <= 12:
            raise ParameterError(f"period {s!r}: month must be 1-12")
        return Period(dt.date(y, mo, 1), _month_end(y, mo), f"{y}-{mo:02d}")
    if low == "yesterday":
        d = today - dt.timedelta(days=1)
        return Period(d, d, s)
    if low == "mtd":
        d = today - dt.timedelta(days=1)
        return Period(d.replace(day=1), d, s)
    if low == "today":
        return Period(today, today, s)
    if m := re.fullmatch(r"last-(\d+)-days?", low):
        n = int(m.group(1))
        if n < 1:
            raise ParameterError(f"period {s!r}: N must be at least 1")
        end = today - dt.timedelta(days=1)
        return Period(end - dt.timedelta(days=n - 1), end, s)
    if low == "last-week":
        end = today - dt.timedelta(days=today.weekday() + 1)
        return Period(end - dt.timedelta(days=6), end, s)
    if low in ("last-month", "this-month"):
        if low == "this-month":
            return Period(today.replace(day=1), today, s)
        first = today.replace(day=1) - dt.timedelta(days=1)
        return Period(first.replace(day=1), first, s)
    if low in ("this-quarter", "last-quarter"):
        q0 = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        if low == "this-quarter":
            return Period(q0, today, s)
        end = q0 - dt.timedelta(days=1)
        return Period(dt.date(end.year, end.month - 2, 1), end, s)
    try:
        d = parse_date(s)
        return Period(d, d, s)
    except ParameterError:
        pass
    raise ParameterError(
        f"cannot parse period {text!r}: use 2025, 2025-Q4, 2025-11, 2025-11-11, "
        "2025-11-01..2025-11-30, yesterday, last-7-days, last-week, mtd, last-month, this-month, "
        "this-quarter or last-quarter"
    )

"""Push the morning summary to chat: 钉钉 and 飞书 custom robots, 企业微信 group robots.

Each platform gets its documented message format, built from one :class:`PushMessage`
(title, summary lines, incident lines with their owner, link to the report):

``dingtalk``  ``POST <webhook>&timestamp=<ms>&sign=<sign>`` with
              ``{"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles",
              "atUserIds", "isAtAll": false}}``; the text holds ``@<mobile>`` / ``@<userid>`` so
              the mention shows. ``sign`` = urlencode(base64(HmacSHA256(key=secret,
              msg="<timestamp>\\n<secret>"))). Success: ``{"errcode": 0}``.
``feishu``    ``POST <webhook>`` with ``{"timestamp": "<s>", "sign": <sign>, "msg_type":
              "interactive", "card": {header, elements: [{"tag": "markdown", ...}]}}``;
              mentions ``<at id=<user_id>></at>``. ``sign`` = base64(HmacSHA256(key=
              "<timestamp>\\n<secret>", msg=b"")). Success: ``{"code": 0}``.
``wecom``     ``POST <webhook>`` (the key is in the URL) with ``{"msgtype": "markdown",
              "markdown": {"content"}}``; mentions ``<@userid>`` (企业微信 markdown cannot @ a
              mobile number: the owner's name is written instead). Success: ``{"errcode": 0}``.

Settings come from the environment only (never from files in git)::

    OPSNB_DINGTALK_WEBHOOK, OPSNB_DINGTALK_SECRET     钉钉 custom robot (加签 secret)
    OPSNB_FEISHU_WEBHOOK,   OPSNB_FEISHU_SECRET       飞书 custom robot (签名校验 secret)
    OPSNB_WECOM_WEBHOOK                               企业微信 group robot (…/send?key=…)
    OPSNB_REPORT_URL                                  base URL the outputs folder is served at

Transient failures (connection errors, HTTP 5xx/429, the platforms' rate-limit codes) are retried
with back-off ``backoff * 2**k``. :class:`PushLog` (``outputs/.pushes.jsonl``) records what was
pushed, keyed by platform, robot and report, so a rerun of the same day pushes nothing twice.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from opsnb import config
from opsnb.errors import DeliveryError, ParameterError

__all__ = [
    "PLATFORMS",
    "RobotSettings",
    "Mention",
    "PushMessage",
    "PushResult",
    "PushLog",
    "robot_settings_from_env",
    "dingtalk_sign",
    "feishu_sign",
    "render_markdown",
    "build_request",
    "push_message",
]

PLATFORMS = ("dingtalk", "wecom", "feishu")
_ENV = {
    "dingtalk": ("OPSNB_DINGTALK_WEBHOOK", "OPSNB_DINGTALK_SECRET"),
    "feishu": ("OPSNB_FEISHU_WEBHOOK", "OPSNB_FEISHU_SECRET"),
    "wecom": ("OPSNB_WECOM_WEBHOOK", None),
}
_RATE_LIMITED = {"dingtalk": {130101, -1}, "wecom": {45009, -1}, "feishu": {9499, 11232}}


@dataclass(frozen=True)
class RobotSettings:
    """One chat robot: its platform, webhook URL and signing secret (never printed)."""

    platform: str
    webhook: str = field(repr=False)
    secret: str = field(default="", repr=False)
    timeout: float = 10.0

    @property
    def robot_id(self) -> str:
        """A digest naming the robot in the push log without storing its URL or key."""
        return hashlib.sha256(self.webhook.encode()).hexdigest()[:16]


def robot_settings_from_env(platform: str, env: Mapping[str, str] | None = None) -> RobotSettings:
    """Read a platform's robot from ``OPSNB_<PLATFORM>_*``; raise :class:`DeliveryError` naming
    the variable that is missing."""
    if platform not in PLATFORMS:
        raise ParameterError(f"unknown chat platform {platform!r}; allowed: {PLATFORMS}")
    env = os.environ if env is None else env
    hook_var, secret_var = _ENV[platform]
    hook = env.get(hook_var, "").strip()
    if not hook:
        extra = f" (and {secret_var}, the robot's signing secret)" if secret_var else ""
        raise DeliveryError(f"{platform} robot is not configured: set {hook_var}{extra}")
    return RobotSettings(platform, hook, env.get(secret_var, "").strip() if secret_var else "")


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """钉钉 加签: urlencode(base64(HmacSHA256(secret, "<timestamp>\\n<secret>")))."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    digest = hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """飞书 签名校验: base64(HmacSHA256(key="<timestamp>\\n<secret>", message=b""))."""
    key = f"{timestamp_s}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Mention:
    """Someone to @: a name, and a mobile and/or user id the platforms can notify."""

    name: str
    mobile: str = ""
    user_id: str = ""


@dataclass(frozen=True)
class PushMessage:
    """A platform-neutral summary: ``lines`` are Markdown; ``items`` are (text, mention) pairs
    rendered as list items ending with the mention; ``link`` is (label, url) or None."""

    title: str
    lines: tuple[str, ...] = ()
    items: tuple[tuple[str, Mention | None], ...] = ()
    link: tuple[str, str] | None = None
    footer: tuple[str, ...] = ()

    @property
    def mentions(self) -> list[Mention]:
        seen, out = set(), []
        for _, m in self.items:
            if m is not None and (m.mobile or m.user_id) and (m.mobile, m.user_id) not in seen:
                seen.add((m.mobile, m.user_id))
                out.append(m)
        return out


def _at(platform: str, m: Mention | None) -> str:
    if m is None or not m.name and not (m.mobile or m.user_id):
        return ""
    if platform == "dingtalk" and (m.mobile or m.user_id):
        return f"{m.name} @{m.mobile or m.user_id}"
    if platform == "wecom" and m.user_id:
        return f"<@{m.user_id}>"
    if platform == "feishu" and m.user_id:
        return f"<at id={m.user_id}></at>"
    return m.name


def render_markdown(platform: str, msg: PushMessage) -> str:
    """The message as the platform's Markdown, mentions in the platform's syntax."""
    head = f"### {msg.title}" if platform != "feishu" else ""
    body = [*msg.lines]
    for text, who in msg.items:
        at = _at(platform, who)
        body.append(f"- {text}{' ' + at if at else ''}")
    if msg.link:
        body.append(f"[{msg.link[0]}]({msg.link[1]})")
    body += list(msg.footer)
    return "\n".join(x for x in [head, *body] if x is not None).strip()


def build_request(
    platform: str, msg: PushMessage, settings: RobotSettings, *, now: float | None = None
) -> tuple[str, dict]:
    """``(url, json body)`` of the push in the platform's documented format (signed when the
    robot has a secret)."""
    now = time.time() if now is None else now
    md = render_markdown(platform, msg)
    url = settings.webhook
    if platform == "dingtalk":
        mobiles = [m.mobile for m in msg.mentions if m.mobile]
        users = [m.user_id for m in msg.mentions if m.user_id and not m.mobile]
        body = {
            "msgtype": "markdown",
            "markdown": {"title": msg.title, "text": md},
            "at": {"atMobiles": mobiles, "atUserIds": users, "isAtAll": False},
        }
        if settings.secret:
            ts = int(now * 1000)
            sep = "&" if "?" in url else "?"
            url = f"{url}{sep}timestamp={ts}&sign={dingtalk_sign(settings.secret, ts)}"
        return url, body
    if platform == "wecom":
        return url, {"msgtype": "markdown", "markdown": {"content": md}}
    if platform == "feishu":
        body = {
            "msg_type": "interactive",
            "card": {
                "config": {"wide_screen_mode": True},
                "header": {
                    "title": {"tag": "plain_text", "content": msg.title},
                    "template": "blue",
                },
                "elements": [{"tag": "markdown", "content": md}],
            },
        }
        if settings.secret:
            ts = int(now)
            body = {"timestamp": str(ts), "sign": feishu_sign(settings.secret, ts), **body}
        return url, body
    raise ParameterError(f"unknown chat platform {platform!r}; allowed: {PLATFORMS}")


@dataclass(frozen=True)
class PushResult:
    """What :func:`push_message` did: ``status`` is ``"sent"`` or ``"skipped"`` (pushed before)."""

    platform: str
    status: str
    key: str
    attempts: int = 0
    response: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


class PushLog:
    """Append-only JSON-lines record of pushes (default ``outputs/.pushes.jsonl``)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else config.outputs_dir() / ".pushes.jsonl"

    @staticmethod
    def key(platform: str, settings: RobotSettings, report_key: str) -> str:
        return hashlib.sha256(f"{platform}|{settings.robot_id}|{report_key}".encode()).hexdigest()

    def entries(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:  # a torn last line after a crash
                continue
        return out

    def was_pushed(self, key: str) -> bool:
        return any(e.get("key") == key for e in self.entries())

    def record(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
        finally:
            os.close(fd)


def _post(url: str, body: dict, timeout: float) -> tuple[int, dict]:
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    req = urllib.request.Request(
        url, data=data, headers={"Content-Type": "application/json; charset=utf-8"}, method="POST"
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - https webhooks
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read() or b""
    try:
        payload = json.loads(raw.decode("utf-8") or "{}")
    except (UnicodeDecodeError, json.JSONDecodeError):
        payload = {"raw": raw[:200].decode("utf-8", "replace")}
    return status, payload if isinstance(payload, dict) else {"raw": payload}


def _code(platform: str, payload: dict) -> int:
    if platform == "feishu":
        return int(payload.get("code", payload.get("StatusCode", 0)) or 0)
    return int(payload.get("errcode", 0) or 0)


def push_message(
    platform: str,
    msg: PushMessage,
    *,
    settings: RobotSettings | None = None,
    report_key: str = "",
    log: PushLog | None = None,
    force: bool = False,
    retries: int = 3,
    backoff: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> PushResult:
    """Push ``msg`` to one robot unless ``report_key`` was already pushed to it (``force``).

    Retries transient failures up to ``retries`` times (waits ``backoff * 2**k``); raises
    :class:`DeliveryError` with the platform's error when the push fails for good. The push is
    logged only once the platform accepted it.
    """
    settings = settings or robot_settings_from_env(platform)
    log = log or PushLog()
    key = PushLog.key(platform, settings, report_key or msg.title)
    if report_key and not force and log.was_pushed(key):
        return PushResult(platform, "skipped", key)
    last = ""
    for attempt in range(retries + 1):
        url, body = build_request(platform, msg, settings)  # re-signed: timestamps expire
        try:
            status, payload = _post(url, body, settings.timeout)
        except (OSError, urllib.error.URLError) as exc:
            last, transient = f"{type(exc).__name__}: {exc}", True
        else:
            code = _code(platform, payload)
            if status == 200 and code == 0:
                log.record(
                    {
                        "key": key,
                        "platform": platform,
                        "robot": settings.robot_id,
                        "report": report_key,
                        "title": msg.title,
                        "attempts": attempt + 1,
                        "pushed_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                    }
                )
                return PushResult(platform, "sent", key, attempt + 1, payload)
            last = f"HTTP {status}, {json.dumps(payload, ensure_ascii=False)[:300]}"
            transient = status >= 500 or status == 429 or code in _RATE_LIMITED[platform]
        if not transient or attempt == retries:
            break
        sleep(backoff * 2**attempt)
    raise DeliveryError(f"{platform} push failed after {attempt + 1} attempt(s): {last}")

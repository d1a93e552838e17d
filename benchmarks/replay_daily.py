"""Replay ``opsnb daily`` morning by morning on the demo shop, with a local chat-robot server.

The demo store is cut at the day before the replay; every morning the previous day's rows are
dropped into an inbox as an export file (Chinese headers, read through a ``--map`` mapping) and
``opsnb daily --today D --inbox … --push dingtalk,wecom,feishu`` runs as cron would. A local
HTTP server on 127.0.0.1 plays the three robots: it checks each platform's payload and signature
(钉钉 and 飞书 signing secrets) and keeps what it received.

    PYTHONPATH=$PWD .venv/bin/python benchmarks/replay_daily.py --days 14 --start 2025-10-03

prints one line per morning (exit code, alerts, incidents, pushes), the incidents at the end, the
index's days and one day's push as the server received it. ``tests/test_daily_replay.py`` runs a
short replay of the same code (``replay``) in CI.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DINGTALK_SECRET = "SECdemo-dingtalk-secret"
FEISHU_SECRET = "demo-feishu-secret"

MAP_YAML = """\
name: opsnb_daily_csv
platform: ""
title: opsnb daily_metrics (Chinese headers)
table: daily_metrics
file_names: [daily_metrics]
signature: [日期, 渠道, 访客数, 买家数, 订单数, 成交金额]
columns:
  日期: date
  渠道: channel
  访客数: visitors
  买家数: buyers
  订单数: orders
  成交金额: gmv
  退款订单数: refund_orders
  退款金额: refund_amount
  推广花费: ad_spend
  新买家数: new_buyers
  加购人数: cart_users
"""


class RobotServer:
    """Three chat robots on one local port: /dingtalk, /feishu, /wecom (``?key=``)."""

    def __init__(self):
        self.received: list[dict] = []
        self.rejected: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server API
                url = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(url.query)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])).decode())
                platform = url.path.strip("/")
                ok, why = outer.check(platform, q, body)
                if ok:
                    outer.received.append({"platform": platform, "query": q, "body": body})
                    reply = (
                        {"code": 0, "msg": "success"}
                        if platform == "feishu"
                        else {"errcode": 0, "errmsg": "ok"}
                    )
                else:
                    outer.rejected.append(f"{platform}: {why}")
                    reply = (
                        {"code": 19021, "msg": why}
                        if platform == "feishu"
                        else {"errcode": 310000, "errmsg": why}
                    )
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @staticmethod
    def check(platform: str, q: dict, body: dict) -> tuple[bool, str]:
        """The platform's documented payload and signature, verified as the platform would."""
        if platform == "dingtalk":
            ts, sign = q.get("timestamp", [""])[0], q.get("sign", [""])[0]
            want = base64.b64encode(
                hmac.new(
                    DINGTALK_SECRET.encode(), f"{ts}\n{DINGTALK_SECRET}".encode(), hashlib.sha256
                ).digest()
            ).decode()
            if sign != want:  # parse_qs already url-decoded it
                return False, "sign not match"
            if body.get("msgtype") != "markdown" or not body["markdown"].get("text"):
                return False, "bad markdown payload"
            for m in body.get("at", {}).get("atMobiles", []):
                if f"@{m}" not in body["markdown"]["text"]:
                    return False, f"@{m} not in text"
            return True, ""
        if platform == "feishu":
            ts = body.get("timestamp", "")
            want = base64.b64encode(
                hmac.new(f"{ts}\n{FEISHU_SECRET}".encode(), b"", hashlib.sha256).digest()
            ).decode()
            if body.get("sign") != want:
                return (
                    False,
                    "sign match fail or timestamp is not within one hour from current time",
                )
            if body.get("msg_type") != "interactive" or not body["card"]["elements"][0]["content"]:
                return False, "bad card payload"
            return True, ""
        if platform == "wecom":
            if q.get("key", [""])[0] != "demo-wecom-key":
                return False, "invalid webhook url"
            if body.get("msgtype") != "markdown" or not body["markdown"].get("content"):
                return False, "bad markdown payload"
            if len(body["markdown"]["content"].encode()) > 4096:
                return False, "content exceed max length 4096"
            return True, ""
        return False, f"unknown robot {platform}"

    def env(self) -> dict:
        base = f"http://127.0.0.1:{self.port}"
        return {
            "OPSNB_DINGTALK_WEBHOOK": f"{base}/dingtalk?access_token=demo",
            "OPSNB_DINGTALK_SECRET": DINGTALK_SECRET,
            "OPSNB_FEISHU_WEBHOOK": f"{base}/feishu",
            "OPSNB_FEISHU_SECRET": FEISHU_SECRET,
            "OPSNB_WECOM_WEBHOOK": f"{base}/wecom?key=demo-wecom-key",
        }

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def prepare(work: Path, start: dt.date, *, demo_end: str = "2025-12-31", scale: float = 1.0):
    """A demo store cut at ``start − 2`` (the last day a morning of ``start`` would not have),
    the full demo frame to feed the inbox from, and the mapping file."""
    import duckdb

    from opsnb.demo.shop import write_demo

    work.mkdir(parents=True, exist_ok=True)
    db = work / "store.duckdb"
    shop = write_demo(
        db_path=db, out_dir=work / "files", start="2024-01-01", end=demo_end, scale=scale
    )
    cut = start - dt.timedelta(days=2)
    con = duckdb.connect(str(db))
    con.execute("delete from daily_metrics where date > ?", [cut])
    con.close()
    (work / "inbox").mkdir(exist_ok=True)
    (work / "daily_csv.yaml").write_text(MAP_YAML, encoding="utf-8")
    return db, shop.daily_metrics


def drop_export(inbox: Path, daily, day: dt.date, inject: dict | None = None) -> Path:
    """The day's rows as an export with Chinese headers, as someone would download it.

    ``inject``: channel → factor applied to buyers, orders and GMV that day (a checkout
    failure: conversion and GMV drop, visitors do not)."""
    from opsnb.data.schemas import get_table

    rows = daily[daily["date"] == str(day)].copy()
    for ch, f in (inject or {}).items():
        on = rows["channel"] == ch
        for c in ("buyers", "orders", "refund_orders"):
            rows.loc[on, c] = (rows.loc[on, c] * f).round().astype(rows[c].dtype)
        rows.loc[on, "gmv"] = (rows.loc[on, "gmv"] * f).round(2)
        rows.loc[on, "refund_amount"] = (rows.loc[on, "refund_amount"] * f).round(2)
        rows.loc[on, "new_buyers"] = (
            (rows.loc[on, "new_buyers"] * f).round().astype(rows["new_buyers"].dtype)
        )
    rows["date"] = rows["date"].dt.strftime("%Y-%m-%d")
    zh = {c.name: c.aliases[0] for c in get_table("daily_metrics").columns if c.aliases}
    path = inbox / f"daily_metrics_{day:%Y%m%d}.csv"
    rows.rename(columns=zh).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def replay(
    work: Path,
    start: dt.date,
    days: int,
    *,
    no_render: bool = False,
    no_report: bool = False,
    report_last: bool = False,
    quiet_days: int = 2,
    scale: float = 1.0,
    inject: dict | None = None,
    demo_end: str = "2025-12-31",
    log=print,
) -> dict:
    """Run the mornings ``start .. start + days − 1``; return what happened (see the module).

    ``no_report``: skip the notebook (monitor, track, push only), except on the last morning
    with ``report_last``; ``inject``: data day → {channel: factor} (see :func:`drop_export`)."""
    from typer.testing import CliRunner

    from opsnb.cli import app
    from opsnb.monitoring.incidents import load_incidents

    db, daily = prepare(work, start, scale=scale, demo_end=demo_end)
    out = work / "outputs"
    params = work / "daily.yaml"
    params.write_text(
        "shop: 演示店铺\n"
        f"quiet_days: {quiet_days}\n"
        "owners:\n"
        "  小红书: {name: 周婷, mobile: '13800000001', user_id: zhouting}\n"
        "  抖音: {name: 陈晨, mobile: '13800000002'}\n"
        "  直播: {name: 刘洋, user_id: liuyang}\n",
        encoding="utf-8",
    )
    runner = CliRunner()
    mornings = []
    with RobotServer() as robots:
        env = {
            **robots.env(),
            "OPSNB_OUTPUTS": str(out),
            "OPSNB_REPORT_URL": "https://reports.example.cn/opsnb",
        }
        old = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            for k in range(days):
                today = start + dt.timedelta(days=k)
                data_day = today - dt.timedelta(days=1)
                drop_export(work / "inbox", daily, data_day, (inject or {}).get(data_day))
                args = [
                    "daily",
                    "--today",
                    str(today),
                    "--inbox",
                    str(work / "inbox"),
                    "--db",
                    str(db),
                    "--params",
                    str(params),
                    "--map",
                    str(work / "daily_csv.yaml"),
                    "--output-dir",
                    str(out),
                    "--push",
                    "dingtalk,wecom,feishu",
                ]
                args += ["--no-render"] if no_render else []
                args += ["--no-report"] if no_report and not (report_last and k == days - 1) else []
                r = runner.invoke(app, args)
                mornings.append({"today": str(today), "exit": r.exit_code, "output": r.output})
                tail = [
                    ln.strip()
                    for ln in r.output.splitlines()
                    if ln.strip().startswith(
                        (
                            "monitored",
                            "incidents",
                            "dingtalk",
                            "wecom",
                            "feishu",
                            "PUSH",
                            "REPORT",
                            "DATA",
                            "IMPORT",
                        )
                    )
                ]
                log(f"{today}  exit {r.exit_code}  " + " | ".join(tail))
        finally:
            for k, v in old.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        received, rejected = list(robots.received), list(robots.rejected)
    incidents, _ = load_incidents(db)
    return {
        "db": db,
        "outputs": out,
        "mornings": mornings,
        "received": received,
        "rejected": rejected,
        "incidents": incidents,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--days", type=int, default=14)
    ap.add_argument("--start", default="2025-10-03", help="first morning (today) of the replay")
    ap.add_argument("--work", default="/tmp/opsnb-replay")
    ap.add_argument("--no-render", action="store_true")
    args = ap.parse_args(argv)
    import shutil

    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    res = replay(work, dt.date.fromisoformat(args.start), args.days, no_render=args.no_render)
    inc = res["incidents"]
    print("\nincidents:")
    print(
        inc[
            [
                "incident_id",
                "channel",
                "family",
                "status",
                "severity",
                "opened_on",
                "last_seen",
                "age_days",
                "gmv_at_risk",
                "owner",
                "resolved_on",
            ]
        ].to_string(index=False)
    )
    reports = sorted(res["outputs"].glob("03_daily_monitoring/*/*.html"))
    print(f"\n{len(reports)} dated reports: {', '.join(p.parent.name for p in reports)}")
    page = (res["outputs"] / "index.html").read_text(encoding="utf-8")
    n_days = page.count('class="opsnb-day"')
    print(f"index: {n_days} days listed")
    print(
        f"pushes received: {len(res['received'])}, rejected: {len(res['rejected'])} {res['rejected'][:3]}"
    )
    ding = [r for r in res["received"] if r["platform"] == "dingtalk"]
    if ding:
        pick = max(ding, key=lambda r: len(r["body"]["at"]["atMobiles"]))
        print("\none day's 钉钉 push as received (signature verified):")
        print(json.dumps(pick["body"], ensure_ascii=False, indent=2))
    bad = [m for m in res["mornings"] if m["exit"] != 0]
    return 1 if bad or res["rejected"] else 0


if __name__ == "__main__":
    sys.exit(main())

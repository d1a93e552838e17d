"""Chat pushes against a local robot server on 127.0.0.1 that checks each platform's payload and
signature the way 钉钉, 飞书 and 企业微信 document them."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from opsnb.errors import DeliveryError
from opsnb.run import push as P

ROOT = Path(__file__).resolve().parents[1]


def _replay_module():
    spec = importlib.util.spec_from_file_location(
        "replay_daily", ROOT / "benchmarks" / "replay_daily.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


R = _replay_module()

MSG = P.PushMessage(
    "每日监控 2025-10-08",
    ("**异常 2 项**",),
    (
        ("小红书退款 持续第2天", P.Mention("周婷", mobile="13800000001", user_id="zhouting")),
        ("抖音成交 新发", P.Mention("陈晨", mobile="13800000002")),
        ("直播成交 新发", P.Mention("刘洋", user_id="liuyang")),
    ),
    ("查看完整报告", "https://reports.example.cn/opsnb/03_daily_monitoring/2025-10-08/r.html"),
)


@pytest.fixture
def robots():
    with R.RobotServer() as server:
        yield server


def _settings(server, platform, **kw):
    return P.robot_settings_from_env(platform, {**server.env(), **kw})


def test_dingtalk_signature_matches_the_documented_algorithm():
    # the example of DingTalk's documentation recomputed with hmac/base64 by hand
    import base64
    import hashlib
    import hmac
    import urllib.parse

    secret, ts = "SEC000000", 1577262236757
    raw = hmac.new(secret.encode(), f"{ts}\n{secret}".encode(), hashlib.sha256).digest()
    assert P.dingtalk_sign(secret, ts) == urllib.parse.quote_plus(base64.b64encode(raw).decode())
    fs = base64.b64encode(hmac.new(f"1599360473\n{secret}".encode(), b"", hashlib.sha256).digest())
    assert P.feishu_sign(secret, 1599360473) == fs.decode()


@pytest.mark.parametrize("platform", P.PLATFORMS)
def test_each_platform_receives_its_format_signed_with_mentions(robots, tmp_path, platform):
    r = P.push_message(
        platform,
        MSG,
        settings=_settings(robots, platform),
        report_key="d",
        log=P.PushLog(tmp_path / "l"),
    )
    assert r.status == "sent" and r.attempts == 1 and robots.rejected == []
    [got] = robots.received
    body = got["body"]
    if platform == "dingtalk":
        text = body["markdown"]["text"]
        assert body["at"] == {
            "atMobiles": ["13800000001", "13800000002"],
            "atUserIds": ["liuyang"],
            "isAtAll": False,
        }
        assert (
            "周婷 @13800000001" in text and "陈晨 @13800000002" in text and "刘洋 @liuyang" in text
        )
        assert text.startswith("### 每日监控 2025-10-08")
    elif platform == "wecom":
        text = body["markdown"]["content"]
        assert (
            "<@zhouting>" in text and "<@liuyang>" in text and "陈晨" in text
        )  # no mobile @ in markdown
    else:
        assert body["card"]["header"]["title"]["content"] == "每日监控 2025-10-08"
        text = body["card"]["elements"][0]["content"]
        assert "<at id=zhouting></at>" in text and "陈晨" in text
    assert (
        "[查看完整报告](https://reports.example.cn/opsnb/03_daily_monitoring/2025-10-08/r.html)"
        in text
    )


def test_a_wrong_secret_is_refused_by_the_robot_and_not_retried(robots, tmp_path):
    waits = []
    bad = _settings(robots, "dingtalk", OPSNB_DINGTALK_SECRET="SECwrong")
    with pytest.raises(DeliveryError, match="dingtalk push failed after 1 attempt.*sign not match"):
        P.push_message(
            "dingtalk", MSG, settings=bad, log=P.PushLog(tmp_path / "l"), sleep=waits.append
        )
    assert waits == [] and robots.received == []
    bad = _settings(robots, "feishu", OPSNB_FEISHU_SECRET="wrong")
    with pytest.raises(DeliveryError, match="19021"):
        P.push_message(
            "feishu", MSG, settings=bad, log=P.PushLog(tmp_path / "l"), sleep=waits.append
        )


def test_transient_failures_are_retried_with_backoff(tmp_path):
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    replies = [
        (502, {}),
        (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        (200, {"errcode": 0}),
    ]

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers["Content-Length"]))
            code, body = replies.pop(0)
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        s = P.RobotSettings("wecom", f"http://127.0.0.1:{httpd.server_address[1]}/send?key=k")
        waits = []
        r = P.push_message(
            "wecom", MSG, settings=s, log=P.PushLog(tmp_path / "l"), sleep=waits.append, backoff=1.5
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert r.status == "sent" and r.attempts == 3 and waits == [1.5, 3.0]


def test_a_rerun_of_the_same_day_pushes_nothing_twice(robots, tmp_path):
    log = P.PushLog(tmp_path / ".pushes.jsonl")
    s = _settings(robots, "feishu")
    first = P.push_message("feishu", MSG, settings=s, report_key="03/2025-10-08", log=log)
    again = P.push_message("feishu", MSG, settings=s, report_key="03/2025-10-08", log=log)
    other = P.push_message("feishu", MSG, settings=s, report_key="03/2025-10-09", log=log)
    forced = P.push_message(
        "feishu", MSG, settings=s, report_key="03/2025-10-08", log=log, force=True
    )
    assert [first.status, again.status, other.status, forced.status] == [
        "sent",
        "skipped",
        "sent",
        "sent",
    ]
    assert len(robots.received) == 3
    text = log.path.read_text(encoding="utf-8")
    assert "SECdemo" not in text and "127.0.0.1" not in text  # no secret or webhook in the ledger


def test_settings_come_from_the_environment_and_name_what_is_missing():
    with pytest.raises(
        DeliveryError, match="set OPSNB_DINGTALK_WEBHOOK \\(and OPSNB_DINGTALK_SECRET"
    ):
        P.robot_settings_from_env("dingtalk", {})
    with pytest.raises(DeliveryError, match="set OPSNB_WECOM_WEBHOOK$"):
        P.robot_settings_from_env("wecom", {})
    s = P.robot_settings_from_env(
        "feishu", {"OPSNB_FEISHU_WEBHOOK": "https://x/hook", "OPSNB_FEISHU_SECRET": "s"}
    )
    assert "s" not in repr(s).replace("settings", "") or "secret" not in repr(s)
    assert "https://x/hook" not in repr(s)

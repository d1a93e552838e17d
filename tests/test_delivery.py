"""Email delivery against a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

import base64
import email
import io
import os
import re
import shutil
import socket
import subprocess
import warnings
from email import policy
from pathlib import Path

import pytest

from opsnb.errors import DeliveryError, ParameterError
from opsnb.run import delivery
from opsnb.run.render import find_chromium

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Collect:
    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch, tmp_path):
    handler = _Collect()
    port = _free_port()
    controller = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("OPSNB_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("OPSNB_SMTP_PORT", str(port))
    monkeypatch.setenv("OPSNB_SMTP_SECURITY", "none")
    monkeypatch.setenv("OPSNB_SMTP_FROM", "运营报表 <reports@example.com>")
    monkeypatch.delenv("OPSNB_SMTP_USER", raising=False)
    monkeypatch.setenv("OPSNB_OUTPUTS", str(tmp_path / "outputs"))
    try:
        yield handler
    finally:
        controller.stop()


def _png(title: str = "成交金额") -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3), dpi=100)
    ax.plot([1, 3, 2, 4], color="#c0392b")
    ax.set_title(title)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a missing CJK glyph is not this test's concern
        fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


@pytest.fixture
def report(tmp_path) -> Path:
    """A small report shaped like nbconvert's output: <style>, data: PNG, a script."""
    png1 = base64.b64encode(_png()).decode()
    png2 = base64.b64encode(_png("退款率")).decode()
    html = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>每日监控 2025-11</title>
<script src="https://cdn.example.com/require.js"></script>
<style>
:root {{ --jp-color: #123456; }}
body {{ font-family: "Noto Sans CJK SC", sans-serif; color: var(--jp-color); margin: 0 }}
h1 {{ color: #1f3a5f; font-size: 24px }}
.jp-OutputArea table {{ border-collapse: collapse }}
td, th {{ border: 1px solid #dddddd; padding: 4px 8px }}
td.bad {{ color: #b00020 }}
#footer {{ font-size: 11px; background: url(data:image/png;base64,AAAA) }}
a:hover {{ color: red }}
@media (max-width: 600px) {{ h1 {{ font-size: 18px }} }}
</style></head><body>
<h1>每日监控</h1>
<p>成交金额较上周 <b>下降 12.5%</b>。</p>
<div class="jp-OutputArea"><table><tr><th>渠道</th><th>成交金额</th></tr>
<tr><td>抖音</td><td class="bad" style="font-weight: bold">¥1,234</td></tr></table></div>
<img src="data:image/png;base64,{png1}" alt="成交金额趋势">
<p onclick="alert(1)">第二张图：<img src="data:image/png;base64,{png2}"></p>
<a href="javascript:alert(1)">x</a>
<script>alert("hi")</script>
<p id="footer">opsnb</p>
</body></html>"""
    path = tmp_path / "outputs" / "03_daily_monitoring" / "2025-11.html"
    path.parent.mkdir(parents=True)
    path.write_text(html, encoding="utf-8")
    return path


def _received(handler, i=-1) -> email.message.EmailMessage:
    return email.message_from_bytes(handler.envelopes[i].content, policy=policy.default)


def test_report_mail_is_text_alternative_and_related_html_with_png_parts(smtp, report):
    result = delivery.send_report(
        report, to=["张三 <zhang@example.com>"], cc="李四 <li@example.com>", backoff=0
    )
    assert result.status == "sent"
    assert len(smtp.envelopes) == 1
    env = smtp.envelopes[0]
    assert sorted(env.rcpt_tos) == ["li@example.com", "zhang@example.com"]
    assert env.mail_from == "reports@example.com"
    raw = env.content.decode("ascii")  # every header and body is 7-bit on the wire
    assert "=?utf-8?" in raw.split("\r\n\r\n", 1)[0].lower()

    msg = _received(smtp)
    assert msg["Subject"] == "每日监控 2025-11"
    assert msg["To"].addresses[0].display_name == "张三"
    assert msg["From"].addresses[0].display_name == "运营报表"
    assert msg.get_content_type() == "multipart/alternative"
    plain, related = msg.get_payload()
    assert plain.get_content_type() == "text/plain"
    assert related.get_content_type() == "multipart/related"
    html_part, *images = related.get_payload()
    assert html_part.get_content_type() == "text/html"
    assert [p.get_content_type() for p in images] == ["image/png", "image/png"]

    html = html_part.get_content()
    cids = {p["Content-ID"].strip("<>") for p in images}
    refs = set(re.findall(r'src="cid:([^"]+)"', html))
    assert refs == cids and len(refs) == 2
    for part in images:
        assert part.get_content().startswith(b"\x89PNG")
    assert "<script" not in html.lower()
    assert "data:" not in html
    assert "javascript:" not in html and "onclick" not in html
    assert "<style" not in html
    text = plain.get_content()
    assert "下降 12.5%" in text and "抖音 | ¥1,234" in text


def test_style_rules_are_inlined_and_unsupported_ones_dropped(report):
    content = delivery.email_safe_html(report.read_text(encoding="utf-8"))
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(content.html, "html.parser")
    h1 = soup.find("h1")["style"]
    assert "color: #1f3a5f" in h1 and "font-size: 24px" in h1  # @media rule did not win
    bad = soup.find("td", class_="bad")["style"]
    # the more specific rule wins over `td`, and the element's own style comes last
    assert "color: #b00020" in bad and bad.rstrip(";").endswith("font-weight: bold")
    assert "border-collapse: collapse" in soup.find("table")["style"]
    assert "var(" not in content.html and "url(" not in content.html
    assert soup.find("a").get("style") is None  # a:hover was dropped, not applied
    assert "font-size: 11px" in soup.find(id="footer")["style"]
    assert content.title == "每日监控 2025-11"


def test_smtp_down_raises_delivery_error_after_retries_and_marks_nothing_sent(
    report, monkeypatch, tmp_path
):
    monkeypatch.setenv("OPSNB_OUTPUTS", str(tmp_path / "outputs"))
    settings = delivery.SmtpSettings(
        host="127.0.0.1", port=_free_port(), sender="a@example.com", security="none", timeout=2
    )
    waits = []
    msg = delivery.build_report_message(report, to=["b@example.com"])
    with pytest.raises(DeliveryError, match=r"127\.0\.0\.1:\d+.*after 4 attempt"):
        delivery.send_message(msg, settings, retries=3, backoff=0.5, sleep=waits.append)
    assert waits == [0.5, 1.0, 2.0]  # exponential back-off between attempts

    log = delivery.SendLog()
    with pytest.raises(DeliveryError):
        delivery.send_report(report, to="b@example.com", settings=settings, log=log, retries=0)
    assert log.entries() == []


def test_rerun_does_not_resend_but_new_content_or_recipients_do(smtp, report):
    log = delivery.SendLog()
    assert delivery.send_report(report, to="a@example.com", log=log).status == "sent"
    again = delivery.send_report(report, to="A@example.com", log=log)
    assert again.status == "skipped"
    assert len(smtp.envelopes) == 1
    assert (
        delivery.send_report(report, to=["a@example.com", "b@example.com"], log=log).status
        == "sent"
    )
    report.write_text(
        report.read_text(encoding="utf-8").replace("12.5%", "13.0%"), encoding="utf-8"
    )
    assert delivery.send_report(report, to="a@example.com", log=log).status == "sent"
    assert len(smtp.envelopes) == 3
    assert [e["report"] for e in log.entries()] == ["03_daily_monitoring/2025-11.html"] * 3


def test_failure_digest_lists_each_failed_run_with_its_error(smtp):
    failures = [
        {
            "notebook": "notebooks/03_daily_monitoring.ipynb",
            "slug": "shop-a-2025-11",
            "error": "Traceback...\nKeyError: 'gmv'",
            "partial_path": "x.failed.ipynb",
        },
        {
            "notebook": "notebooks/05_abtest.ipynb",
            "slug": "exp-7",
            "error": "timed out after 60 s (kernel killed)",
            "partial_path": "",
        },
    ]
    delivery.send_failure_digest(failures, to="ops@example.com", backoff=0)
    msg = _received(smtp)
    assert msg["Subject"] == "opsnb：2 个报表运行失败"
    text = msg.get_body(("plain",)).get_content()
    assert "03_daily_monitoring/shop-a-2025-11" in text and "KeyError: 'gmv'" in text
    assert "05_abtest/exp-7" in text and "timed out after 60 s" in text
    assert delivery.send_failure_digest([], to="ops@example.com") is None
    assert len(smtp.envelopes) == 1


def test_mail_above_size_budget_warns(report):
    with pytest.warns(delivery.EmailSizeWarning, match="budget"):
        delivery.build_report_message(report, to=["a@example.com"], size_budget=10_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error", delivery.EmailSizeWarning)
        delivery.build_report_message(report, to=["a@example.com"])


def test_settings_come_from_environment_and_bad_values_are_named():
    with pytest.raises(DeliveryError, match="OPSNB_SMTP_HOST"):
        delivery.smtp_settings_from_env({})
    with pytest.raises(ParameterError, match="starttls"):
        delivery.smtp_settings_from_env({"OPSNB_SMTP_HOST": "h", "OPSNB_SMTP_SECURITY": "tls"})
    s = delivery.smtp_settings_from_env(
        {
            "OPSNB_SMTP_HOST": "smtp.example.com",
            "OPSNB_SMTP_SECURITY": "ssl",
            "OPSNB_SMTP_USER": "u@example.com",
            "OPSNB_SMTP_PASSWORD": "s3cret",
        }
    )
    assert (s.port, s.sender, s.security) == (465, "u@example.com", "ssl")
    assert "s3cret" not in repr(s)
    with pytest.raises(ParameterError, match="not an email address"):
        delivery.parse_recipients(["张三"])
    assert delivery.parse_recipients("张三 <z@example.com>, b@example.com") == [
        "张三 <z@example.com>",
        "b@example.com",
    ]


@pytest.mark.slow
@pytest.mark.browser
def test_email_html_renders_with_its_charts_in_chromium(report, tmp_path):
    chromium = find_chromium()
    if chromium is None:
        pytest.skip("no chromium")
    msg = delivery.build_report_message(report, to=["a@example.com"])
    related = msg.get_payload()[1]
    html = related.get_payload()[0].get_content()
    out = tmp_path / "mail"
    out.mkdir()
    for part in related.get_payload()[1:]:  # what a mail client does with cid: references
        cid = part["Content-ID"].strip("<>")
        (out / part.get_filename()).write_bytes(part.get_content())
        html = html.replace(f"cid:{cid}", part.get_filename())
    (out / "mail.html").write_text(html, encoding="utf-8")
    shot = tmp_path / "mail.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={tmp_path / 'prof'}",
            f"--screenshot={shot}",
            "--window-size=900,1000",
            (out / "mail.html").as_uri(),
        ],
        capture_output=True,
        timeout=60,
    )
    if os.environ.get("OPSNB_KEEP_SCREENSHOTS"):
        shutil.copy(shot, Path(os.environ["OPSNB_KEEP_SCREENSHOTS"]) / "mail.png")
    import numpy as np
    from PIL import Image

    px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # the chart's red line (#c0392b) is on screen: the cid: images resolved and displayed
    reds = ((px[..., 0] > 170) & (px[..., 1] < 80) & (px[..., 2] < 70)).sum()
    assert reds > 200


def test_cli_send_mails_once_and_names_the_server_when_it_is_down(smtp, report, monkeypatch):
    from typer.testing import CliRunner

    from opsnb.cli import app

    args = ["send", str(report), "--to", "张三 <zhang@example.com>", "--subject", "周报"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    assert "sent" in first.output and _received(smtp)["Subject"] == "周报"
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0 and "already sent" in again.output
    assert len(smtp.envelopes) == 1
    monkeypatch.setenv("OPSNB_SMTP_PORT", str(_free_port()))
    down = CliRunner().invoke(app, args + ["--force", "--retries", "0"])
    assert down.exit_code == 1
    assert "could not send" in down.output and "127.0.0.1" in down.output


# ----------------------------------------------------------------------------- exactly once


class _Slow(_Collect):
    """Queues the message, then takes ``delay`` seconds to answer (a virus-scanning relay)."""

    def __init__(self, delay: float):
        super().__init__()
        self.delay = delay

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd API)
        import asyncio

        self.envelopes.append(envelope)  # queued for delivery, then slow to say so
        await asyncio.sleep(self.delay)
        return "250 OK"


@pytest.fixture
def slow_smtp(monkeypatch, tmp_path):
    handler = _Slow(2.5)
    port = _free_port()
    controller = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("OPSNB_OUTPUTS", str(tmp_path / "outputs"))
    settings = delivery.SmtpSettings(
        host="127.0.0.1", port=port, sender="a@example.com", security="none", timeout=1.0
    )
    try:
        yield handler, settings
    finally:
        controller.stop()


def test_a_server_slower_than_the_command_timeout_gets_one_copy_and_it_is_reported_sent(
    slow_smtp, report
):
    handler, settings = slow_smtp  # 1 s per command, 2.5 s for the reply to the message
    log = delivery.SendLog()
    res = delivery.send_report(report, to="b@example.com", settings=settings, log=log, backoff=0)
    assert (res.status, res.attempts, len(handler.envelopes)) == ("sent", 1, 1)
    assert [e["state"] for e in log.events()] == ["sending", "sent"]


def test_a_server_slower_than_even_the_data_timeout_is_not_sent_twice(slow_smtp, report):
    import dataclasses
    import time

    handler, settings = slow_smtp
    impatient = dataclasses.replace(settings, data_timeout=0.5)
    log = delivery.SendLog()
    with pytest.raises(delivery.UnconfirmedDelivery, match="may have been delivered"):
        delivery.send_report(report, to="b@example.com", settings=impatient, log=log, backoff=0)
    time.sleep(3)  # whatever the server would still do with the connection
    assert len(handler.envelopes) == 1
    assert [e["state"] for e in log.events()] == ["sending", "unconfirmed"]
    with pytest.raises(delivery.UnconfirmedDelivery, match="--force to resend"):
        delivery.send_report(report, to="b@example.com", settings=settings, log=log)
    assert len(handler.envelopes) == 1 and log.entries() == []
    forced = delivery.send_report(
        report, to="b@example.com", settings=settings, log=log, force=True
    )
    assert forced.status == "sent" and len(handler.envelopes) == 2


def test_an_absent_server_records_a_failure_that_a_later_send_replaces(smtp, report):
    log = delivery.SendLog()
    down = delivery.SmtpSettings(
        host="127.0.0.1", port=_free_port(), sender="a@example.com", security="none", timeout=2
    )
    with pytest.raises(DeliveryError, match="could not send"):
        delivery.send_report(report, to="b@example.com", settings=down, log=log, retries=0)
    assert [e["state"] for e in log.events()] == ["sending", "failed"] and log.entries() == []
    assert delivery.send_report(report, to="b@example.com", log=log).status == "sent"
    assert len(smtp.envelopes) == 1 and len(log.entries()) == 1


_SEND = """
import sys
from opsnb.run import delivery
from opsnb.run.render import find_chromium
s = delivery.SmtpSettings(host="127.0.0.1", port=int(sys.argv[2]), sender="a@example.com",
                          security="none", timeout=5)
print(delivery.send_report(sys.argv[1], to="b@example.com", settings=s).status)
"""


def test_two_concurrent_sends_of_one_report_send_one_mail(slow_smtp, report, monkeypatch):
    import os
    import subprocess
    import sys

    handler, settings = slow_smtp
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _SEND, str(report), str(settings.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    assert sorted(o.strip() for o, _ in outs) == ["sent", "skipped"]
    assert len(handler.envelopes) == 1
    assert len(delivery.SendLog().entries()) == 1

"""Faults a user meets: a store held by a long report, a file that is not a store, an outputs
folder that cannot be written. Each ends in a message naming the file and what to do."""

from __future__ import annotations

import errno
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from opsnb.cli import _handle, app

FIXTURES = Path(__file__).parent / "fixtures"

_WRITE = """
import sys, time
import duckdb
t0 = time.monotonic()
con = duckdb.connect(sys.argv[1])  # read-write: fails at once while a reader holds the file
con.execute("create or replace table t as select 2 as x")
con.close()
print(round(time.monotonic() - t0, 2))
"""

_HOLD = """
import sys, time
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
print("holding", flush=True)
time.sleep(float(sys.argv[2]))
con.close()
"""


@pytest.fixture
def store(tmp_path) -> Path:
    import duckdb

    db = tmp_path / "s.duckdb"
    con = duckdb.connect(str(db))
    con.execute(
        "create table daily_metrics as select date '2025-11-01' + i::int as date, "
        "'抖音' as channel, 100 as visitors, 5 as buyers, 5 as orders, 500.0 as gmv, "
        "0 as refund_orders, 0.0 as refund_amount, 10.0 as ad_spend, 2 as new_buyers, "
        "20 as cart_users from range(30) r(i)"
    )
    con.close()
    return db


def test_a_report_releases_the_store_between_reads_so_a_writer_gets_in(store):
    from opsnb import report

    ctx = report.setup(period="2025-11", db_path=str(store), as_of="2025-11-30")
    days = ctx.read("daily_metrics")
    assert len(days) == 30
    # the report is still open (a long notebook), yet another process can write now
    out = subprocess.run(
        [sys.executable, "-c", _WRITE, str(store)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    # a cell that used ctx.con directly holds it until the cell ends (release)
    assert ctx.con.execute("select count(*) from daily_metrics").fetchone() == (30,)
    blocked = subprocess.run(
        [sys.executable, "-c", _WRITE, str(store)], capture_output=True, text=True, timeout=60
    )
    assert blocked.returncode != 0 and "lock" in blocked.stderr.lower()
    ctx.release()
    again = subprocess.run(
        [sys.executable, "-c", _WRITE, str(store)], capture_output=True, text=True, timeout=60
    )
    assert again.returncode == 0, again.stderr
    assert len(ctx.read_all("daily_metrics")) == 30  # reopens for the next read


def test_a_load_waits_with_a_message_while_a_reader_holds_the_store(store):
    from opsnb.data.loaders import read_rows

    plan = FIXTURES / "good" / "plan_zh.csv"
    read_rows(plan, "plan", None)  # the loaders' imports now, so the load reaches the store soon
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(store), "4"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        t0 = time.monotonic()
        res = CliRunner().invoke(app, ["load", "plan", str(plan), "--db", str(store)])
        waited = time.monotonic() - t0
    finally:
        holder.wait(30)
        holder.stdout.close()
    assert res.exit_code == 0, res.output
    assert "is in use by another process" in res.output and "waiting up to" in res.output
    assert "loaded" in res.output and waited >= 1.0


def test_a_file_that_is_not_a_duckdb_store_gets_a_message_not_a_traceback(tmp_path):
    fake = tmp_path / "opsnb.duckdb"
    fake.write_text("id,name\n1,x\n", encoding="utf-8")
    for args in (
        ["ledger", "--db", str(fake)],
        ["load", "plan", str(FIXTURES / "good" / "plan_zh.csv"), "--db", str(fake)],
    ):
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 1, (args, res.output)
        assert res.exception is None or isinstance(res.exception, SystemExit)
        assert str(fake) in res.output and "not an opsnb store" in res.output
        assert "Traceback" not in res.output
    assert fake.read_text(encoding="utf-8") == "id,name\n1,x\n"  # left as it was


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied", "/srv/outputs/index.html"),
            "cannot write /srv/outputs/index.html: Permission denied; it is not writable",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "/mnt/ro/outputs"),
            "cannot write /mnt/ro/outputs: Read-only file system; it is not writable",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/srv/outputs/x.html"),
            "cannot write /srv/outputs/x.html: No space left on device; the disk is full",
        ),
    ],
)
def test_an_unwritable_or_full_outputs_folder_is_named_with_what_to_do(exc, expected, capsys):
    import typer

    out = _handle(exc)
    assert isinstance(out, typer.Exit) and out.exit_code == 1
    assert expected in capsys.readouterr().err


def test_a_corrupt_workbook_is_refused_naming_the_file(tmp_path):
    bad = tmp_path / "计划.xlsx"
    bad.write_bytes(b"PK\x03\x04 this is not a workbook")
    res = CliRunner().invoke(app, ["validate", "plan", str(bad)])
    assert res.exit_code == 1, res.output
    assert "计划.xlsx: cannot read this workbook" in res.output
    assert "save it again as .xlsx" in res.output

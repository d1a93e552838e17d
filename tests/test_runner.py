import json
from pathlib import Path

import nbformat
import pytest
from typer.testing import CliRunner

from opsnb.cli import app
from opsnb.errors import NotebookRunError, ParameterError
from opsnb.run.runner import output_slug, run_notebook

NB = Path(__file__).parent / "fixtures" / "nb" / "report_ok.ipynb"


def test_successful_run_writes_notebook_html_and_record(outputs):
    r = run_notebook(NB, {"lang": "zh", "n_points": 7})
    assert r.ok, r.error
    assert Path(r.ipynb_path).is_file() and Path(r.html_path).is_file()
    rec = json.loads(Path(r.results_path).read_text(encoding="utf-8"))
    assert rec["status"] == "ok" and rec["params"]["n_points"] == 7
    assert rec["results"]["gmv"] == 123456.0 and rec["results"]["note"] == "完成"
    assert rec["results"]["_title"] == "测试报告"
    # nothing temporary left behind
    assert not list(Path(r.ipynb_path).parent.glob(".*"))


def test_failed_run_keeps_the_partial_notebook_and_says_which_cell(outputs):
    r = run_notebook(NB, {"fail_at": "middle"})
    assert r.status == "failed"
    assert "ValueError" in r.error and "boom" in r.error
    assert 'raise ValueError("boom' in r.failed_cell
    part = nbformat.read(r.partial_path, as_version=4)
    errors = [
        o
        for c in part.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert errors and errors[0]["ename"] == "ValueError"
    assert r.html_path is None
    assert json.loads(Path(r.results_path).read_text())["status"] == "failed"
    with pytest.raises(NotebookRunError) as e:
        run_notebook(NB, {"fail_at": "middle"}, raise_on_error=True)
    assert e.value.partial_path == r.partial_path


def test_a_later_success_replaces_the_partial_notebook(outputs):
    bad = run_notebook(NB, {"fail_at": "middle"}, slug="same")
    assert Path(bad.partial_path).exists()
    good = run_notebook(NB, {}, slug="same")
    assert good.ok and not Path(bad.partial_path).exists()


def test_failed_run_does_not_replace_the_last_good_report(outputs):
    good = run_notebook(NB, {}, slug="keep")
    before = Path(good.html_path).read_bytes()
    bad = run_notebook(NB, {"fail_at": "middle"}, slug="keep")
    assert bad.status == "failed"
    assert Path(good.html_path).read_bytes() == before  # stale but whole, never half-written


def test_parameters_are_validated_before_the_kernel_starts(outputs):
    with pytest.raises(ParameterError, match="n_points"):
        run_notebook(NB, {"n_points": "many"})
    assert not outputs.exists() or not list(outputs.rglob("*.ipynb"))


def test_slug_derives_from_parameters():
    assert output_slug(NB, {"period": "2025-Q4", "lang": "en"}) == "2025-Q4-en"
    assert output_slug(NB, {"period": "2025-11-01..2025-11-30"}) == "2025-11-01_to_2025-11-30-zh"
    a = output_slug(NB, {"n_points": 3})
    assert a.startswith("2025-11-zh-") and a != output_slug(NB, {"n_points": 4})
    assert output_slug(NB, {}, slug="双11 复盘/2025") == "双11-复盘-2025"


def test_cli_run_exit_codes_and_messages(outputs):
    runner = CliRunner()
    ok = runner.invoke(app, ["run", str(NB), "-p", "lang=en"])
    assert ok.exit_code == 0, ok.output
    assert (outputs / "index.html").is_file()
    bad = runner.invoke(app, ["run", str(NB), "-p", "fail_at=middle"])
    assert bad.exit_code == 1
    assert "boom" in bad.output and "partial notebook kept at" in bad.output
    typo = runner.invoke(app, ["run", str(NB), "-p", "n_pts=3"])
    assert typo.exit_code == 1 and "Did you mean 'n_points'" in typo.output


def test_successful_runs_land_in_the_ledger_once_per_run_id(outputs, tmp_path, monkeypatch):
    from opsnb.run import ledger

    db = tmp_path / "store.duckdb"
    monkeypatch.setenv("OPSNB_DB", str(db))
    run_notebook(NB, {"lang": "zh"}, slug="ledgered")
    r = run_notebook(NB, {"lang": "zh"}, slug="ledgered")  # a rerun replaces, never duplicates
    run_notebook(NB, {"fail_at": "middle"}, slug="broken")  # failures are not lessons
    rows = ledger.read(db)
    assert list(rows["run_id"]) == ["report_ok/2025-11/ledgered"]  # <notebook>/<period>/<slug>
    assert rows.iloc[0]["key_results"]["gmv"] == 123456.0
    assert json.loads(Path(r.results_path).read_text()).get("ledger_error", "") == ""


def test_ledger_keeps_the_decision_parameter_and_the_recorded_campaign(tmp_path):
    """05's `decision` is a parameter (the review's human decision), its campaign a recorded figure."""
    from opsnb.run import ledger
    from opsnb.run.runner import append_ledger

    db = tmp_path / "store.duckdb"
    rec = tmp_path / "r.json"
    rec.write_text(
        json.dumps(
            {
                "notebook": "05_retrospective",
                "slug": "double11-2025-Q4",
                "params": {
                    "period": "2025-Q4",
                    "decision": "明年双11提前两周备货",
                    "db_path": str(db),
                    "lessons": ["预热期加大小红书投放"],
                },
                "results": {
                    "_period": "2025-10-01..2025-12-31",
                    "campaign": "double11",
                    "gmv": 1.0,
                },
            }
        ),
        encoding="utf-8",
    )
    assert append_ledger(rec) == ""
    row = ledger.read(db).iloc[0]
    assert (row["decision"], row["campaign"]) == ("明年双11提前两周备货", "double11")
    assert list(row["lessons"]) == ["预热期加大小红书投放"]


def test_papermill_reads_every_parameter_of_every_notebook(caplog):
    import logging

    import papermill as pm

    from opsnb.run.params import list_notebooks, notebook_parameters

    # papermill's reader skips a parameter line whose help comment holds a second '=' (it then
    # calls the parameter unknown on every run and leaves it out of --help-notebook)
    caplog.set_level(logging.WARNING, logger="papermill")
    for nb in list_notebooks():
        seen = set(pm.inspect_notebook(str(nb)))
        assert seen == {p.name for p in notebook_parameters(nb)}, nb.name
    assert "Unable to parse line" not in caplog.text


def test_papermill_unknown_parameter_warning_is_dropped(caplog):
    import logging

    from opsnb.run import runner  # noqa: F401 - installs the filter

    caplog.set_level(logging.WARNING)
    logging.getLogger("papermill").warning("Passed unknown parameter: db_path")
    logging.getLogger("papermill").warning("Input notebook does not contain a cell with tag")
    # ... (load_params has checked the names); other warnings stay
    assert "Passed unknown parameter" not in caplog.text and "does not contain" in caplog.text

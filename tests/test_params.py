import datetime as dt

import pytest
import yaml

from opsnb.errors import ParameterError
from opsnb.periods import Period, parse_date, parse_period
from opsnb.run.params import load_params, notebook_parameters

NB = "00_data_health"


def d(s):
    return dt.date.fromisoformat(s)


def test_parameters_cell_gives_name_type_default_and_help():
    ps = {p.name: p for p in notebook_parameters(NB)}
    assert ps["lang"].type == "str" and ps["lang"].default == "zh"
    assert ps["outlier_z"].type == "float" and ps["outlier_z"].default == 5.0
    assert "shop name" in ps["shop"].help  # comment after a Chinese default is still read
    assert {"lang", "period", "db_path", "shop", "as_of"} <= set(ps)


@pytest.mark.parametrize(
    "text,start,end",
    [
        ("2025", "2025-01-01", "2025-12-31"),
        ("2025-Q4", "2025-10-01", "2025-12-31"),
        ("2024-q1", "2024-01-01", "2024-03-31"),
        ("2024-02", "2024-02-01", "2024-02-29"),
        ("2025-11-11", "2025-11-11", "2025-11-11"),
        ("20251111", "2025-11-11", "2025-11-11"),
        ("2025/11/1..2025/11/30", "2025-11-01", "2025-11-30"),
        ("yesterday", "2026-01-14", "2026-01-14"),
        ("last-7-days", "2026-01-08", "2026-01-14"),
        ("last-week", "2026-01-05", "2026-01-11"),
        ("last-month", "2025-12-01", "2025-12-31"),
        ("this-month", "2026-01-01", "2026-01-15"),
        ("last-quarter", "2025-10-01", "2025-12-31"),
    ],
)
def test_periods_parse_to_inclusive_ranges(text, start, end):
    p = parse_period(text, as_of="2026-01-15")
    assert (p.start, p.end) == (d(start), d(end))


@pytest.mark.parametrize(
    "bad", ["2025-13", "2025-Q5", "next-year", "2025-11-30..2025-11-01", "last-0-days"]
)
def test_bad_periods_fail_with_the_accepted_forms(bad):
    with pytest.raises(ParameterError, match="period"):
        parse_period(bad, as_of="2026-01-15")


def test_period_helpers():
    p = Period(d("2025-11-01"), d("2025-11-30"), "2025-11")
    assert p.days == 30
    assert (p.previous().start, p.previous().end) == (d("2025-10-02"), d("2025-10-31"))
    assert p.last_year().start == d("2024-11-01")
    assert Period(d("2024-02-29"), d("2024-02-29"), "x").last_year().start == d("2023-02-28")
    assert parse_date("2025年6月18日") == d("2025-06-18")


def write(tmp_path, data, name="p.yaml"):
    f = tmp_path / name
    f.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return f


def test_unknown_key_names_the_closest_valid_key(tmp_path):
    f = write(tmp_path, {"lang": "en", "perod": "2025-Q4"})
    with pytest.raises(ParameterError) as e:
        load_params(NB, f)
    assert (
        "perod" in str(e.value)
        and "Did you mean 'period'" in str(e.value)
        and str(f) in str(e.value)
    )


def test_wrong_type_names_the_key(tmp_path):
    f = write(tmp_path, {"outlier_z": "high"})
    with pytest.raises(ParameterError, match="'outlier_z' must be float"):
        load_params(NB, f)


def test_bad_lang_and_bad_period_fail_before_any_kernel(tmp_path):
    with pytest.raises(ParameterError, match="'lang' must be 'zh' or 'en'"):
        load_params(NB, write(tmp_path, {"lang": "fr"}))
    with pytest.raises(ParameterError, match="cannot parse period"):
        load_params(NB, write(tmp_path, {"period": "someday"}))


def test_notebook_section_and_overrides_win(tmp_path):
    f = write(
        tmp_path,
        {
            "lang": "zh",
            "period": "2025",
            "notebooks": {"00_data_health": {"outlier_z": 4}},
            "slug": "x",
        },
    )
    assert load_params(NB, f) == {"lang": "zh", "period": "2025", "outlier_z": 4.0}
    assert load_params(NB, f, ["lang=en", "outlier_z=3.5"])["lang"] == "en"
    assert load_params(NB, f, ["outlier_z=3.5"])["outlier_z"] == 3.5


def test_override_of_unknown_key_fails():
    with pytest.raises(ParameterError, match="unknown parameter 'outlier'"):
        load_params(NB, None, ["outlier=3"])


def test_every_params_file_in_the_repo_is_valid_for_its_notebooks():
    from opsnb import config
    from opsnb.run.params import list_notebooks, notebooks_for_file, read_yaml

    files = sorted(config.params_dir().glob("*.yaml"))
    assert files, "params/ must hold at least the demo parameter set"
    for f in files:
        only = notebooks_for_file(read_yaml(f))
        for nb in list_notebooks():
            if only is None or nb.stem in only:
                load_params(nb, f)  # raises on any problem


def test_data_contracts_doc_is_in_sync_with_the_schemas():
    from opsnb import config
    from opsnb.data.schemas import contracts_markdown

    doc = (config.project_root() / "docs" / "data-contracts.md").read_text(encoding="utf-8")
    assert doc.strip() == contracts_markdown().strip(), "run: opsnb tables > docs/data-contracts.md"


def test_dates_inside_list_parameters_stay_the_text_that_was_written(tmp_path):
    p = tmp_path / "shop.yaml"
    p.write_text(
        "country: HK\nevents:\n  - {event: 店庆, start: 2025-11-08, end: 2025-11-10}\n",
        encoding="utf-8",
    )
    got = load_params("03_daily_monitoring", p)
    assert got == {
        "country": "HK",
        "events": [{"event": "店庆", "start": "2025-11-08", "end": "2025-11-10"}],
    }


def test_calendar_parameters_are_checked_before_anything_runs(tmp_path):
    with pytest.raises(ParameterError, match=r"'country': country 'XX' is not known.*ISO code"):
        load_params("03_daily_monitoring", overrides=["country=XX"])
    assert load_params("03_daily_monitoring", overrides=["country=us"]) == {"country": "US"}
    with pytest.raises(ParameterError, match=r"'events': .*missing \['end'\]"):
        load_params("03_daily_monitoring", overrides=["events=[{event: 店庆, start: 2025-01-01}]"])
    with pytest.raises(ParameterError, match="period"):  # not a raw ValueError from YAML
        load_params("03_daily_monitoring", overrides=["period=2025-13-01"])
    p = tmp_path / "bad.yaml"
    p.write_text("events:\n  - {event: 店庆, start: 2025-13-01, end: 2025-13-02}\n", "utf-8")
    with pytest.raises(ParameterError, match=r"bad.yaml: a date that does not exist"):
        load_params("03_daily_monitoring", p)

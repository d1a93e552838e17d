"""What-if scenario model: evaluation, grid, named scenarios and the widget panel."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd
import pytest
from test_goals import HIST

from opsnb import goals
from opsnb.errors import ParameterError
from opsnb.goals import whatif


def small_model() -> whatif.ScenarioModel:
    base = pd.DataFrame(
        {
            "channel": ["抖音", "小红书", "自然搜索"],
            "visitors": [10_000.0, 5_000.0, 20_000.0],
            "conversion_rate": [0.05, 0.08, 0.03],
            "aov": [200.0, 250.0, 150.0],
        }
    )
    return whatif.ScenarioModel.from_frame(
        base, goal=400_000.0, cost_per_visitor={"抖音": 4.0, "小红书": 4.0}
    )


def test_evaluate_matches_hand_computation():
    m = small_model()
    r0 = m.evaluate()
    # 10000·0.05·200 + 5000·0.08·250 + 20000·0.03·150 = 100000 + 100000 + 90000
    assert r0.gmv == pytest.approx(290_000.0)
    assert r0.budget == pytest.approx(4.0 * 15_000)
    # paid traffic +20 % on 抖音, conversion −1 point (−20 % relative) on 抖音
    r = m.evaluate({"抖音": {"visitors": 0.2, "conversion_rate": -0.2}})
    assert r.gmv == pytest.approx(12_000 * 0.04 * 200 + 190_000)
    assert r.achievement == pytest.approx(r.gmv / 400_000)
    assert r.extra_budget == pytest.approx(2_000 * 4.0)
    assert (
        r.by_channel.set_index("channel").loc["自然搜索", "spend"]
        != r.by_channel.set_index("channel").loc["自然搜索", "spend"]
    )  # NaN: organic has no cost


def test_all_channel_and_channel_changes_multiply():
    m = small_model()
    a = m.evaluate({"*": {"aov": 0.1}, "抖音": {"aov": 0.1}}).by_channel.set_index("channel")
    assert a.loc["抖音", "aov"] == pytest.approx(200 * 1.1 * 1.1)
    assert a.loc["小红书", "aov"] == pytest.approx(250 * 1.1)


def test_misuse_names_the_allowed_values():
    m = small_model()
    with pytest.raises(ParameterError, match="unknown channel"):
        m.evaluate({"淘宝客": {"visitors": 0.1}})
    with pytest.raises(ParameterError, match="unknown driver"):
        m.evaluate({"*": {"clicks": 0.1}})
    with pytest.raises(ParameterError, match="≤ 0"):
        m.evaluate({"*": {"visitors": -1.0}})


def test_goal_plan_scenario_reaches_the_goal_exactly():
    m = whatif.build_model(HIST, goal=0.3, base="2024-Q3", target="2025-Q3")
    d = goals.decompose_goal(HIST, goal=0.3, base="2024-Q3", target="2025-Q3")
    assert m.goal == pytest.approx(d.total, rel=1e-12)
    r = m.evaluate(m.plan_changes)
    assert r.achievement == pytest.approx(1.0, rel=1e-9)
    assert m.evaluate().gmv == pytest.approx(d.targets.base_gmv.sum(), rel=1e-9)


def test_grid_cells_are_model_evaluations():
    m = small_model()
    g = whatif.scenario_grid(
        m, x="visitors", y="aov", x_values=[0, 0.1, 0.2], y_values=[-0.05, 0.0], channels=["抖音"]
    )
    assert len(g) == 6
    cell = g[(g.x_change == 0.1) & (g.y_change == -0.05)].iloc[0]
    expect = m.evaluate({"抖音": {"visitors": 0.1, "aov": -0.05}})
    assert cell.gmv == pytest.approx(expect.gmv, rel=1e-12)
    assert cell.achievement == pytest.approx(expect.achievement, rel=1e-12)
    # more visitors never lowers GMV
    p = g.pivot(index="y_change", columns="x_change", values="gmv").to_numpy()
    assert (np.diff(p, axis=1) > 0).all()
    with pytest.raises(ParameterError):
        whatif.scenario_grid(m, x="aov", y="aov")


def test_named_scenarios_use_historical_quantiles():
    m = whatif.build_model(HIST, goal=0.3, base="2024-Q3", target="2025-Q3")
    t = whatif.named_scenarios(m, HIST, window=3, lag=12, before="2025-07-01").set_index("scenario")
    assert list(t.index) == ["conservative", "base", "stretch", "plan"]
    assert t.gmv["conservative"] <= t.gmv["base"] <= t.gmv["stretch"]
    assert t.achievement["plan"] == pytest.approx(1.0, rel=1e-9)
    assert (t.source.drop("plan") == "history").all()
    # the 'base' visitors change of 抖音 is the median of its own year-on-year changes
    h = goals.historical_changes(HIST, window=3, lag=12, before="2025-07-01")
    med = np.quantile(h[(h.channel == "抖音") & (h.driver == "visitors")].change, 0.5)
    ch = m.evaluate({"抖音": {"visitors": med}}).by_channel.set_index("channel")
    base_v = m.base.set_index("channel").visitors["抖音"]
    assert ch.loc["抖音", "visitors"] == pytest.approx(base_v * (1 + med))
    assert t.label["conservative"] == "保守"


def test_named_scenarios_fall_back_to_defaults_without_history():
    t = whatif.named_scenarios(small_model(), lang="en").set_index("scenario")
    assert (t.source == "default").all()
    assert t.label["stretch"] == "Stretch"
    assert t.visitors_change["stretch"] == pytest.approx(0.25)
    assert t.gmv["stretch"] == pytest.approx(
        small_model().evaluate({"*": whatif.DEFAULT_SCENARIOS["stretch"]}).gmv
    )


def test_grid_heat_map_renders_chinese():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    g = whatif.scenario_grid(small_model())
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*Glyph.*missing.*")
        ax = whatif.plot_scenario_grid(g, lang="zh")
        ax.figure.canvas.draw()
    assert ax.get_xlabel() == "访客数变化"
    assert len(ax.texts) == len(g)
    plt.close(ax.figure)


def test_live_panel_shows_what_the_model_computes():
    m = small_model()
    panel = whatif.live_panel(m, lang="zh")
    keys = whatif.slider_keys(m)
    assert keys[0] == ("抖音", "visitors") and len(panel.sliders) == 9
    panel.sliders[keys[0]].value = 7
    panel.sliders[("小红书", "conversion_rate")].value = -3
    html = panel.children[0].value
    shown = float(re.search(r'class="opsnb-gmv" data-value="([^"]+)"', html).group(1))
    expect = m.evaluate({"抖音": {"visitors": 0.07}, "小红书": {"conversion_rate": -0.03}})
    assert shown == expect.gmv
    assert f"¥{expect.gmv:,.0f}" in html


def test_whatif_command_serves_the_live_notebook_with_the_given_parameters():
    import json as _json
    from pathlib import Path

    from typer.testing import CliRunner

    from opsnb.cli import app

    r = CliRunner().invoke(
        app, ["whatif", "--dry-run", "--port", "8999", "-p", "goal=0.25", "-p", "lang=en"]
    )
    assert r.exit_code == 0, r.output
    lines = r.output.strip().splitlines()
    cmd = next(line for line in lines if " -m voila " in line).split()
    assert cmd[1:3] == ["-m", "voila"] and "--port=8999" in cmd and "--no-browser" in cmd
    # the dry run keeps the served copy so the printed command still runs, and says so
    assert lines[-1].startswith("(served copy kept in ")
    nb = _json.loads(Path(cmd[3]).read_text(encoding="utf-8"))
    injected = [c for c in nb["cells"] if "injected-parameters" in c["metadata"].get("tags", [])]
    assert injected and "goal = 0.25" in "".join(injected[0]["source"])
    bad = CliRunner().invoke(app, ["whatif", "--dry-run", "-p", "gaol=0.2"])
    assert bad.exit_code == 1 and "Did you mean 'goal'" in bad.output

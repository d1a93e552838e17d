"""What-if: one scenario model, used live (ipywidgets / Voila) and static (grid + named table).

The model holds, per channel, the reference drivers (visitors, conversion_rate, aov — see
:mod:`opsnb.goals`), the cost per paid visitor (CAC × conversion) and the GMV goal. A scenario is
a set of relative changes per channel and driver::

    {"*": {"conversion_rate": -0.05}, "抖音": {"visitors": 0.20}}

("*" applies to every channel; changes for the same driver multiply). Evaluating it gives GMV,
goal achievement and ad budget (paid visitors × cost per visitor). The live panel
(:func:`live_panel`) and the static outputs (:func:`scenario_grid`, :func:`named_scenarios`) call
the same :meth:`ScenarioModel.evaluate`, so the emailed report shows the numbers the sliders give.

Examples
--------
>>> m = ScenarioModel.from_frame(pd.DataFrame({"channel": ["抖音"], "visitors": [1000.0],
...     "conversion_rate": [0.05], "aov": [200.0]}), goal=12_000)
>>> m.evaluate({"抖音": {"visitors": 0.2}}).gmv
12000.0
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from opsnb.errors import ParameterError
from opsnb.goals.decompose import DRIVER_LABELS, DRIVERS, Decomposition
from opsnb.i18n import Labels

__all__ = [
    "ALL",
    "DEFAULT_SCENARIOS",
    "SCENARIO_LABELS",
    "ScenarioModel",
    "ScenarioResult",
    "build_model",
    "scenario_grid",
    "plot_scenario_grid",
    "named_scenarios",
    "slider_keys",
    "live_panel",
    "scenarios_table",
]

ALL = "*"
DEFAULT_SCENARIOS: dict[str, dict[str, float]] = {
    "conservative": {"visitors": 0.0, "conversion_rate": -0.05, "aov": 0.0},
    "base": {"visitors": 0.10, "conversion_rate": 0.0, "aov": 0.03},
    "stretch": {"visitors": 0.25, "conversion_rate": 0.05, "aov": 0.05},
}
"""Fallback named scenarios (relative changes for every channel) when there is no history."""
SCENARIO_LABELS = {
    "conservative": ("保守", "Conservative"),
    "base": ("基准", "Base"),
    "stretch": ("冲刺", "Stretch"),
    "plan": ("目标拆解方案", "Goal plan"),
}


@dataclass(frozen=True)
class ScenarioResult:
    """GMV, goal achievement and budget of one scenario.

    ``by_channel`` columns: channel, visitors, conversion_rate, aov, buyers, gmv, spend.
    """

    gmv: float
    goal: float
    achievement: float
    gap: float
    base_gmv: float
    growth: float
    budget: float
    extra_budget: float
    changes: dict
    by_channel: pd.DataFrame = field(repr=False)

    def to_dict(self) -> dict:
        return {
            k: getattr(self, k)
            for k in (
                "gmv",
                "goal",
                "achievement",
                "gap",
                "base_gmv",
                "growth",
                "budget",
                "extra_budget",
            )
        }

    def to_frame(self) -> pd.DataFrame:
        return self.by_channel.copy()


@dataclass(frozen=True)
class ScenarioModel:
    """Reference drivers per channel plus the goal; :meth:`evaluate` prices a scenario.

    ``base`` columns: channel, visitors, conversion_rate, aov, gmv, cost_per_visitor (NaN for
    channels without an acquisition cost).
    """

    base: pd.DataFrame
    goal: float
    plan_changes: dict = field(default_factory=dict)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        goal: float,
        cost_per_visitor: Mapping[str, float] | None = None,
    ) -> ScenarioModel:
        b = frame[["channel", "visitors", "conversion_rate", "aov"]].copy()
        for c in ("visitors", "conversion_rate", "aov"):
            b[c] = b[c].astype(float)
        b["gmv"] = b["visitors"] * b["conversion_rate"] * b["aov"]
        cpv = dict(cost_per_visitor or {})
        if "cost_per_visitor" in frame and not cpv:
            b["cost_per_visitor"] = frame["cost_per_visitor"].astype(float).to_numpy()
        else:
            b["cost_per_visitor"] = b["channel"].map(cpv).astype(float)
        b = b.sort_values("gmv", ascending=False, kind="stable").reset_index(drop=True)
        if not goal > 0:
            raise ParameterError(f"goal must be a positive GMV, got {goal!r}")
        return cls(base=b, goal=float(goal))

    @classmethod
    def from_decomposition(cls, d: Decomposition, cac: pd.DataFrame | None = None) -> ScenarioModel:
        """Reference drivers of the decomposition's channels; the plan's changes kept."""
        bc = d.by_channel()
        frame = pd.DataFrame(
            {
                "channel": bc["channel"],
                "visitors": bc["base_visitors"],
                "conversion_rate": bc["base_conversion_rate"],
                "aov": bc["base_aov"],
            }
        )
        cpv = {} if cac is None else dict(zip(cac["channel"], cac["cost_per_visitor"]))
        m = cls.from_frame(frame, goal=d.total, cost_per_visitor=cpv)
        plan = {
            r.channel: {
                "visitors": r.visitors / r.base_visitors - 1,
                "conversion_rate": r.conversion_rate / r.base_conversion_rate - 1,
                "aov": r.aov / r.base_aov - 1,
            }
            for r in bc.itertuples()
        }
        return cls(base=m.base, goal=m.goal, plan_changes=plan)

    @property
    def channels(self) -> list[str]:
        return list(self.base["channel"])

    @property
    def base_gmv(self) -> float:
        return float(self.base["gmv"].sum())

    def factors(self, changes: Mapping[str, Mapping[str, float]] | None) -> pd.DataFrame:
        """Multiplicative factor per channel (rows) and driver (columns) for ``changes``."""
        f = pd.DataFrame(1.0, index=self.channels, columns=list(DRIVERS))
        for ch, drv in (changes or {}).items():
            if ch != ALL and ch not in f.index:
                raise ParameterError(f"unknown channel {ch!r}; channels: {self.channels} or '*'")
            for d, x in drv.items():
                if d not in DRIVERS:
                    raise ParameterError(f"unknown driver {d!r}; drivers: {list(DRIVERS)}")
                if x <= -1:
                    raise ParameterError(f"change {x!r} for {ch}/{d} would make it ≤ 0")
                rows = f.index if ch == ALL else [ch]
                f.loc[rows, d] *= 1.0 + float(x)
        return f

    def evaluate(self, changes: Mapping[str, Mapping[str, float]] | None = None) -> ScenarioResult:
        """GMV, achievement of the goal and ad budget under ``changes``."""
        f = self.factors(changes)
        b = self.base.set_index("channel")
        out = pd.DataFrame(index=b.index)
        for d in DRIVERS:
            out[d] = b[d] * f[d]
        out["buyers"] = out["visitors"] * out["conversion_rate"]
        out["gmv"] = out["buyers"] * out["aov"]
        out["spend"] = out["visitors"] * b["cost_per_visitor"]
        base_spend = float((b["visitors"] * b["cost_per_visitor"]).sum())
        gmv = float(out["gmv"].sum())
        budget = float(out["spend"].sum())
        return ScenarioResult(
            gmv=gmv,
            goal=self.goal,
            achievement=gmv / self.goal,
            gap=gmv - self.goal,
            base_gmv=self.base_gmv,
            growth=gmv / self.base_gmv - 1.0,
            budget=budget,
            extra_budget=budget - base_spend,
            changes={k: dict(v) for k, v in (changes or {}).items()},
            by_channel=out.reset_index(names="channel"),
        )


def build_model(
    history: pd.DataFrame, *, goal, base, target, channels=None, mix=None, cac=None
) -> ScenarioModel:
    """Decompose the goal (:func:`opsnb.goals.decompose_goal`) and wrap it in a model.

    ``cac`` overrides per channel as {channel: (cac, conversion)}; history spend and the seeds
    (小红书 50/8 %, 抖音 80/5 %) fill the rest.
    """
    from opsnb.goals import decompose as goals

    kw = {} if mix is None else {"mix": mix}
    d = goals.decompose_goal(history, goal=goal, base=base, target=target, channels=channels, **kw)
    return ScenarioModel.from_decomposition(d, goals.cac_table(history, cac=cac))


# ------------------------------------------------------------------------------------------
# static: grid and named scenarios
# ------------------------------------------------------------------------------------------


def scenario_grid(
    model: ScenarioModel,
    *,
    x: str = "visitors",
    y: str = "conversion_rate",
    x_values: Sequence[float] = (-0.1, 0.0, 0.1, 0.2, 0.3, 0.4),
    y_values: Sequence[float] = (-0.1, -0.05, 0.0, 0.05, 0.1),
    channels: Sequence[str] | None = None,
    fixed: Mapping[str, Mapping[str, float]] | None = None,
) -> pd.DataFrame:
    """Goal achievement over two drivers changed together on ``channels`` (default all).

    Returns tidy columns: x_change, y_change, gmv, achievement, budget. ``fixed`` changes are
    applied underneath every cell.
    """
    if x == y:
        raise ParameterError(f"x and y must be different drivers, both are {x!r}")
    chans = [ALL] if channels is None else list(channels)
    rows = []
    for yv in y_values:
        for xv in x_values:
            ch = {k: dict(v) for k, v in (fixed or {}).items()}
            for c in chans:
                cur = ch.setdefault(c, {})
                cur[x] = (1 + cur.get(x, 0.0)) * (1 + xv) - 1
                cur[y] = (1 + cur.get(y, 0.0)) * (1 + yv) - 1
            r = model.evaluate(ch)
            rows.append(
                {
                    "x_change": float(xv),
                    "y_change": float(yv),
                    "gmv": r.gmv,
                    "achievement": r.achievement,
                    "budget": r.budget,
                }
            )
    g = pd.DataFrame(rows)
    g.attrs.update(x=x, y=y, channels=chans)
    return g


def plot_scenario_grid(grid: pd.DataFrame, *, lang: str = "zh", ax=None):
    """Heat map of goal achievement (cells annotated in %; ≥ 100 % cells outlined)."""
    from matplotlib.colors import TwoSlopeNorm
    from matplotlib.patches import Rectangle

    from opsnb import plots

    L = Labels(lang)
    x, y = grid.attrs.get("x", "visitors"), grid.attrs.get("y", "conversion_rate")
    p = grid.pivot(index="y_change", columns="x_change", values="achievement").sort_index(
        ascending=False
    )
    ax = plots.new_axes(ax, figsize=(1.1 * p.shape[1] + 3, 0.6 * p.shape[0] + 1.8))
    vals = p.to_numpy()
    lo, hi = min(vals.min(), 0.99), max(vals.max(), 1.01)
    im = ax.imshow(
        vals, cmap="RdYlGn", norm=TwoSlopeNorm(vcenter=1.0, vmin=lo, vmax=hi), aspect="auto"
    )
    for i in range(vals.shape[0]):
        for j in range(vals.shape[1]):
            ax.text(j, i, f"{vals[i, j]:.0%}", ha="center", va="center", fontsize=9)
            if vals[i, j] >= 1.0:
                ax.add_patch(Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, ec="#1B5E20", lw=1.5))
    ax.set_xticks(range(p.shape[1]))
    ax.set_xticklabels([f"{v:+.0%}" for v in p.columns])
    ax.set_yticks(range(p.shape[0]))
    ax.set_yticklabels([f"{v:+.0%}" for v in p.index])
    ax.set_xlabel(L(f"{DRIVER_LABELS[x][0]}变化", f"Change in {DRIVER_LABELS[x][1].lower()}"))
    ax.set_ylabel(L(f"{DRIVER_LABELS[y][0]}变化", f"Change in {DRIVER_LABELS[y][1].lower()}"))
    ax.set_title(L("目标达成率情景表", "Goal achievement by scenario"))
    ax.grid(False)
    ax.figure.colorbar(im, ax=ax, format=lambda v, _: f"{v:.0%}", shrink=0.8)
    return ax


def named_scenarios(
    model: ScenarioModel,
    history: pd.DataFrame | None = None,
    *,
    window: int | None = None,
    lag: int = 12,
    before=None,
    quantiles: tuple[float, float, float] = (0.25, 0.5, 0.75),
    min_obs: int = 5,
    lang: str = "zh",
) -> pd.DataFrame:
    """保守 / 基准 / 冲刺 (and the goal plan) as one table.

    With ``history``, each channel's driver change is the 25th / 50th / 75th percentile of its
    own past changes (:func:`opsnb.goals.historical_changes`, ``window`` months compared with
    ``lag`` months earlier); without enough history the :data:`DEFAULT_SCENARIOS` apply.
    Returns columns: scenario, label, visitors_change, conversion_rate_change, aov_change
    (GMV-weighted over channels), gmv, growth, achievement, budget, extra_budget, source.
    """
    from opsnb.goals import decompose as goals

    L = Labels(lang)
    hist = None
    if history is not None:
        hist = goals.historical_changes(history, window=window or 3, lag=lag, before=before)
    scen: dict[str, tuple[dict, str]] = {}
    for name, q in zip(("conservative", "base", "stretch"), quantiles):
        ch: dict[str, dict[str, float]] = {}
        src = "history"
        for c in model.channels:
            ch[c] = {}
            for d in DRIVERS:
                v = np.array([])
                if hist is not None:
                    v = hist.loc[
                        (hist["channel"] == c) & (hist["driver"] == d), "change"
                    ].to_numpy()
                if len(v) >= min_obs:
                    ch[c][d] = float(np.quantile(v, q))
                else:
                    ch[c][d] = DEFAULT_SCENARIOS[name][d]
                    src = "default" if hist is None else "history+default"
        scen[name] = (ch, src)
    if model.plan_changes:
        scen["plan"] = (model.plan_changes, "goal")
    w = model.base.set_index("channel")["gmv"]
    rows = []
    for name, (ch, src) in scen.items():
        r = model.evaluate(ch)
        row = {"scenario": name, "label": L(*SCENARIO_LABELS[name])}
        for d in DRIVERS:
            row[f"{d}_change"] = float(sum(w[c] * ch[c][d] for c in ch) / w[list(ch)].sum())
        row.update(
            gmv=r.gmv,
            growth=r.growth,
            achievement=r.achievement,
            budget=r.budget,
            extra_budget=r.extra_budget,
            source=src,
        )
        rows.append(row)
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
# live: ipywidgets panel (JupyterLab and Voila)
# ------------------------------------------------------------------------------------------


def slider_keys(model: ScenarioModel) -> list[tuple[str, str]]:
    """(channel, driver) of the panel's sliders in display order (channels by GMV)."""
    return [(c, d) for c in model.channels for d in DRIVERS]


def _summary_html(model: ScenarioModel, r: ScenarioResult, lang: str) -> str:
    from opsnb.plots import format_money

    L = Labels(lang)
    ok = r.achievement >= 1
    color = "#1B5E20" if ok else "#B71C1C"
    changes = html.escape(json.dumps(r.changes, ensure_ascii=False, sort_keys=True))
    return (
        f'<div class="opsnb-whatif-summary" data-changes="{changes}" style="font-size:15px">'
        f"<b>{L('预计成交金额', 'Projected GMV')}</b>: "
        f'<span class="opsnb-gmv" data-value="{r.gmv!r}">¥{r.gmv:,.0f}</span>'
        f" ({format_money(r.gmv, lang)}) &nbsp;|&nbsp; "
        f"<b>{L('目标达成率', 'Goal achievement')}</b>: "
        f'<span class="opsnb-achievement" data-value="{r.achievement!r}" style="color:{color}">'
        f"{r.achievement:.1%}</span> ({L('目标', 'goal')} {format_money(r.goal, lang)})"
        f" &nbsp;|&nbsp; <b>{L('推广预算', 'Ad budget')}</b>: "
        f'<span class="opsnb-budget" data-value="{r.budget!r}">¥{r.budget:,.0f}</span>'
        f" ({L('较参考期', 'vs reference')} {'+' if r.extra_budget >= 0 else ''}"
        f"{format_money(r.extra_budget, lang)})</div>"
    )


def _channel_html(r: ScenarioResult, lang: str) -> str:
    L = Labels(lang)
    t = r.by_channel
    head = "".join(
        f"<th style='padding:2px 8px'>{h}</th>"
        for h in (
            L("渠道", "Channel"),
            L("访客数", "Visitors"),
            L("转化率", "Conversion"),
            L("客单价", "AOV"),
            L("成交金额", "GMV"),
            L("推广花费", "Spend"),
        )
    )
    body = "".join(
        f"<tr><td>{html.escape(str(x.channel))}</td><td align=right>{x.visitors:,.0f}</td>"
        f"<td align=right>{x.conversion_rate:.2%}</td><td align=right>¥{x.aov:,.1f}</td>"
        f"<td align=right>¥{x.gmv:,.0f}</td><td align=right>"
        f"{'—' if x.spend != x.spend else f'¥{x.spend:,.0f}'}</td></tr>"
        for x in t.itertuples()
    )
    return f"<table class='opsnb-whatif-channels'><tr>{head}</tr>{body}</table>"


def live_panel(
    model: ScenarioModel, *, lang: str = "zh", step: int = 1, span: tuple[int, int] = (-50, 100)
):
    """An ipywidgets panel: one slider (% change) per channel and driver → GMV, goal, budget.

    The summary line carries ``data-value`` attributes with the exact numbers (class
    ``opsnb-gmv``, ``opsnb-achievement``, ``opsnb-budget``) for tests and scraping.
    """
    import ipywidgets as w

    L = Labels(lang)
    sliders: dict[tuple[str, str], w.IntSlider] = {}
    rows = []
    header = w.HBox(
        [w.Label(L("渠道", "Channel"), layout=w.Layout(width="110px"))]
        + [
            w.Label(
                L(f"{DRIVER_LABELS[d][0]}变化 %", f"{DRIVER_LABELS[d][1]} change %"),
                layout=w.Layout(width="260px"),
            )
            for d in DRIVERS
        ]
    )
    for c in model.channels:
        cells = [w.Label(str(c), layout=w.Layout(width="110px"))]
        for d in DRIVERS:
            s = w.IntSlider(
                value=0,
                min=span[0],
                max=span[1],
                step=step,
                continuous_update=False,
                readout=True,
                layout=w.Layout(width="260px"),
            )
            s.add_class(f"opsnb-slider-{len(sliders)}")
            sliders[(c, d)] = s
            cells.append(s)
        rows.append(w.HBox(cells))
    summary = w.HTML()
    summary.add_class("opsnb-whatif-output")
    table = w.HTML()
    reset = w.Button(description=L("重置", "Reset"))
    plan_btn = w.Button(
        description=L("套用目标拆解", "Use goal plan"), disabled=not model.plan_changes
    )

    def current() -> dict:
        ch: dict[str, dict[str, float]] = {}
        for (c, d), s in sliders.items():
            if s.value:
                ch.setdefault(c, {})[d] = s.value / 100.0
        return ch

    def refresh(_=None):
        r = model.evaluate(current())
        summary.value = _summary_html(model, r, lang)
        table.value = _channel_html(r, lang)

    def do_reset(_):
        for s in sliders.values():
            s.value = 0

    def do_plan(_):
        for (c, d), s in sliders.items():
            s.value = int(round(100 * model.plan_changes.get(c, {}).get(d, 0.0)))

    for s in sliders.values():
        s.observe(refresh, names="value")
    reset.on_click(do_reset)
    plan_btn.on_click(do_plan)
    refresh()
    box = w.VBox([summary, header, *rows, w.HBox([reset, plan_btn]), table])
    box.sliders = sliders  # type: ignore[attr-defined]  # for tests in a kernel
    box.refresh = refresh  # type: ignore[attr-defined]
    return box


_SCEN_NAMES = {
    "label": ("情景", "Scenario"),
    "visitors_change": ("访客数变化", "Visitors"),
    "conversion_rate_change": ("转化率变化", "Conversion"),
    "aov_change": ("客单价变化", "AOV"),
    "gmv": ("成交金额", "GMV"),
    "growth": ("较参考期", "vs reference"),
    "achievement": ("目标达成率", "Achievement"),
    "budget": ("推广预算", "Ad budget"),
    "extra_budget": ("新增预算", "Extra budget"),
}


def scenarios_table(scen: pd.DataFrame, *, lang: str = "zh") -> pd.DataFrame:
    """:func:`named_scenarios` with display names in the report language."""
    L = Labels(lang)
    t = scen[[c for c in _SCEN_NAMES if c in scen]]
    return t.rename(columns={c: L(*_SCEN_NAMES[c]) for c in t.columns})

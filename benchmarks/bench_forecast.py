"""Forecast accuracy and speed: the default pipeline vs plain seasonal naive and plain AutoETS.

Two cases, each on more than one holdout origin:

(a) **retail**: daily unit sales per SKU built from ``../shared/data/retail/online_retail_sample.csv``
    (20 000 UCI Online Retail invoice lines, 2010-12-01 .. 2011-12-09; cancellations, returns
    and non-product codes such as POST dropped); the SKUs sold on at least ``--min-days`` days
    form the panel (67). They are split once, with a fixed seed (``SPLIT_SEED``), into a
    **tuning** half and a **report** half: every choice of the default pipeline (the
    ADI/CV² rule, SBA for intermittent series, no per-series choice by backtest) was made on the
    tuning half; the claim is made on the report half. Holdouts: the last ``--horizon`` days
    and the ``--horizon`` days before each of ``--origins − 1`` earlier cut-offs. No Chinese
    promotion calendar (a UK gift shop).
(b) **demo**: the demo shop's ``product_daily`` units per SKU (90 SKUs, :mod:`opsnb.demo`) on
    the inventory grid, stock-out days flagged from ``inventory``; holdouts: the last 28 days
    (双12) and the 28 days to 2025-11-16 (双11). The pipeline gets the stock-out flag and the
    promotion calendar; the plain models get the sales. All are scored against the
    generator's **true demand** (``demand_truth``, before stock-outs censored it).

Per SKU and holdout: MASE (scaled by the in-sample seasonal-naive MAE of the training sales,
season 7), sMAPE, RMSSE (root mean squared error scaled by the in-sample seasonal-naive RMSE,
M5's measure, which rewards the mean rather than the median); the table gives their means
over SKUs and holdouts, the bias Σ(forecast − actual) / Σ actual, the share of SKU-days inside
the 80 % and 95 % intervals, and the CPU time summed over the holdouts (process time, not
wall time: the machines this runs on are shared; every model runs with ``n_jobs=1``). On demand this sparse
(retail: one sale day in ten) MAE-type measures are won by forecasting 0 — a forecast that
never reorders — so the row ``zero (reference)`` is printed to keep MASE and sMAPE honest.

Run: PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_forecast.py [--horizon 14] [--origins 3]
[--skip-demo] [--previous] (``--previous``: retail also with the previous default, the lowest
backtest MASE among seven models per series).
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.products.demand import mase, regular_series, smape
from opsnb.products.forecast import forecast_demand

RETAIL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "retail"
SPLIT_SEED = 17
LEVELS = (80, 95)
DEMO_HOLDOUTS = (("2025-12-31", "双12 + year end"), ("2025-11-16", "双11"))


def daily_sku_sales(path: Path) -> pd.DataFrame:
    raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str})
    keep = (
        ~raw["InvoiceNo"].str.startswith("C")
        & (raw["Quantity"] > 0)
        & raw["StockCode"].str[0].str.isdigit()
    )
    raw = raw[keep]
    raw["date"] = pd.to_datetime(raw["InvoiceDate"]).dt.normalize()
    return (
        raw.groupby(["StockCode", "date"], as_index=False)["Quantity"]
        .sum()
        .rename(columns={"StockCode": "sku", "Quantity": "units"})
    )


def split_skus(skus, seed: int = SPLIT_SEED) -> tuple[set, set]:
    """The fixed tuning / report halves of the retail SKUs."""
    ids = np.array(sorted(skus))
    perm = np.random.default_rng(seed).permutation(len(ids))
    half = len(ids) // 2
    return set(ids[perm[:half]]), set(ids[perm[half:]])


def plain(train, model_name, horizon):
    """Plain statsforecast (no un-censoring, no lifts) on the training sales."""
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    model = AutoETS(season_length=7) if model_name == "AutoETS" else SeasonalNaive(season_length=7)
    sf = StatsForecast(models=[model], freq="D", n_jobs=1)
    df = train.rename(columns={"series": "unique_id", "timestamp": "ds", "value": "y"})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = sf.forecast(df=df[["unique_id", "ds", "y"]], h=horizon, level=list(LEVELS))
    ren = {"unique_id": "series", "ds": "timestamp", model_name: "forecast"}
    ren.update({f"{model_name}-{s}-{lv}": f"{s}_{lv}" for lv in LEVELS for s in ("lo", "hi")})
    out = out.rename(columns=ren)
    for c in ["forecast"] + [f"{s}_{lv}" for lv in LEVELS for s in ("lo", "hi")]:
        out[c] = np.maximum(out[c].to_numpy(float), 0.0)
    return out


def methods(train, horizon, *, previous=False, **pipeline_kw) -> dict:
    """Forecasts and CPU seconds of each method on one training frame; ``previous`` adds the
    pipeline's previous default (per series the lowest backtest MASE among seven models)."""
    out = {}
    if previous:
        from opsnb.products.forecast import MODELS

        t0 = time.process_time()
        old = forecast_demand(
            train,
            series_col="series",
            time_col="timestamp",
            value_col="value",
            horizon=horizon,
            freq="D",
            levels=LEVELS,
            models=MODELS,
            **pipeline_kw,
        )
        out["best of 7 (previous)"] = (old.forecasts, time.process_time() - t0, old.choice)
    t0 = time.process_time()
    pipe = forecast_demand(
        train,
        series_col="series",
        time_col="timestamp",
        value_col="value",
        horizon=horizon,
        freq="D",
        levels=LEVELS,
        **pipeline_kw,
    )
    out["default pipeline"] = (pipe.forecasts, time.process_time() - t0, pipe.choice)
    for name in ("SeasonalNaive", "AutoETS"):
        t0 = time.process_time()
        fc = plain(train, name, horizon)
        out[f"plain {name}"] = (fc, time.process_time() - t0, None)
    return out


def score(fc, truth, train) -> pd.DataFrame:
    """Per SKU of ``truth`` (``series, timestamp, actual``): mase, smape, rmsse, the sums of
    forecast and actual and the days inside each interval."""
    fc = fc.set_index(["series", "timestamp"])
    rows = []
    for sid, part in truth.groupby("series"):
        y_in = train.loc[train["series"] == sid, "value"].to_numpy(float)
        d = y_in[7:] - y_in[:-7]
        a = part["actual"].to_numpy(float)
        idx = pd.MultiIndex.from_arrays([part["series"], part["timestamp"]])
        f = fc["forecast"].reindex(idx).to_numpy(float)
        row = {"series": sid, "mase": mase(a, f, np.mean(np.abs(d)))}
        row["smape"] = smape(a, f)
        rmse_in = np.sqrt(np.mean(d**2))
        row["rmsse"] = np.sqrt(np.mean((a - f) ** 2)) / rmse_in if rmse_in else np.nan
        row["sum_f"], row["sum_a"], row["n"] = f.sum(), a.sum(), len(a)
        for lv in LEVELS:
            if f"lo_{lv}" in fc.columns:
                lo = fc[f"lo_{lv}"].reindex(idx).to_numpy(float)
                hi = fc[f"hi_{lv}"].reindex(idx).to_numpy(float)
                row[f"in_{lv}"] = int(((a >= lo) & (a <= hi)).sum())
            else:
                row[f"in_{lv}"] = np.nan
        rows.append(row)
    return pd.DataFrame(rows)


def summary(scores: list[pd.DataFrame], secs: float) -> dict:
    s = pd.concat(scores, ignore_index=True)
    return {
        "MASE": s["mase"].mean(),
        "sMAPE": s["smape"].mean(),
        "RMSSE": s["rmsse"].mean(),
        "bias": (s["sum_f"].sum() - s["sum_a"].sum()) / s["sum_a"].sum(),
        "cov80": s["in_80"].sum() / s["n"].sum(),
        "cov95": s["in_95"].sum() / s["n"].sum(),
        "seconds": secs,
        "by_origin": [x["mase"].mean() for x in scores],
    }


def print_table(title: str, table: dict) -> None:
    print(f"\n{title}")
    print(
        f"{'method':<22}{'MASE':>7}{'sMAPE':>7}{'RMSSE':>7}{'bias':>8}{'cov80':>7}{'cov95':>7}"
        f"{'CPU s':>9}   MASE by origin"
    )
    for name, r in table.items():
        print(
            f"{name:<22}{r['MASE']:>7.3f}{r['sMAPE']:>7.3f}{r['RMSSE']:>7.3f}{r['bias']:>+8.1%}"
            f"{r['cov80']:>7.0%}{r['cov95']:>7.0%}{r['seconds']:>9.1f}   "
            + " ".join(f"{v:.3f}" for v in r["by_origin"])
        )


def retail_case(args) -> None:
    sales = daily_sku_sales(RETAIL / "online_retail_sample.csv")
    days = sales.groupby("sku")["date"].nunique()
    sales = sales[sales["sku"].isin(days.index[days >= args.min_days])]
    full = regular_series(sales, series_col="sku", time_col="date", value_col="units", freq="D")
    tune, report = split_skus(full["series"].unique())
    last = full["timestamp"].max()
    print(
        f"(a) retail: {full['series'].nunique()} SKUs sold on ≥ {args.min_days} days "
        f"(tuning {len(tune)}, report {len(report)}; seed {SPLIT_SEED}); zero days: "
        f"{(full['value'] == 0).mean():.0%}; {args.origins} holdouts of {args.horizon} days"
    )
    per = {k: {} for k in ("tuning", "report")}
    secs: dict = {}
    classes = None
    for k in range(args.origins):
        cut = last - pd.Timedelta(days=args.horizon * (k + 1))
        end = cut + pd.Timedelta(days=args.horizon)
        train = full[full["timestamp"] <= cut]
        test = full[(full["timestamp"] > cut) & (full["timestamp"] <= end)]
        truth = test.rename(columns={"value": "actual"})
        res = methods(train, args.horizon, previous=args.previous)
        zero = truth[["series", "timestamp"]].assign(forecast=0.0)
        for lv in LEVELS:
            zero[f"lo_{lv}"] = zero[f"hi_{lv}"] = 0.0
        res["zero (reference)"] = (zero, 0.0, None)
        if classes is None:
            classes = res["default pipeline"][2]
        for name, (fc, sec, _) in res.items():
            secs[name] = secs.get(name, 0.0) + sec
            for split, ids in (("tuning", tune), ("report", report)):
                s = score(fc, truth[truth["series"].isin(ids)], train)
                per[split].setdefault(name, []).append(s)
    for split in ("report", "tuning"):
        table = {n: summary(v, secs[n]) for n, v in per[split].items()}
        print_table(f"retail, {split} split (CPU seconds: all 67 SKUs)", table)
    print(
        "\nretail demand classes (last origin):",
        classes["demand_class"].value_counts().to_dict(),
        "models:",
        classes["model"].value_counts().to_dict(),
    )


def demo_case(args) -> None:
    from opsnb.demo.shop import generate
    from opsnb.products.demand import sales_with_stock

    t0 = time.process_time()
    shop = generate()
    stock = sales_with_stock(shop.product_daily, shop.inventory)
    full = stock.rename(columns={"sku": "series", "date": "timestamp", "units": "value"})
    truth_all = shop.demand_truth.rename(
        columns={"sku": "series", "date": "timestamp", "demand": "actual"}
    )
    truth_all["timestamp"] = pd.to_datetime(truth_all["timestamp"])
    print(
        f"\n(b) demo shop: {full['series'].nunique()} SKUs, "
        f"{full['timestamp'].min().date()}..{full['timestamp'].max().date()}, stock-out days "
        f"{full['stockout'].mean():.1%}, generated in {time.process_time() - t0:.0f} s; "
        "holdouts of 28 days ending "
        + ", ".join(f"{d} ({why})" for d, why in DEMO_HOLDOUTS)
        + "; scored against the true demand"
    )
    per: dict = {}
    secs: dict = {}
    for end, _ in DEMO_HOLDOUTS:
        end = pd.Timestamp(end)
        cut = end - pd.Timedelta(days=28)
        train = full[full["timestamp"] <= cut]
        truth = truth_all[(truth_all["timestamp"] > cut) & (truth_all["timestamp"] <= end)]
        res = methods(train, 28, stockout_col="stockout", promotions=True)
        for name, (fc, sec, _) in res.items():
            secs[name] = secs.get(name, 0.0) + sec
            per.setdefault(name, []).append(score(fc, truth, train))
        ch = res["default pipeline"][2]
    print_table("demo shop (true demand)", {n: summary(v, secs[n]) for n, v in per.items()})
    print("\ndemo demand classes:", ch["demand_class"].value_counts().to_dict())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--horizon", type=int, default=14)
    ap.add_argument("--min-days", type=int, default=30)
    ap.add_argument("--origins", type=int, default=3, help="retail holdout origins")
    ap.add_argument("--skip-demo", action="store_true")
    ap.add_argument(
        "--previous", action="store_true", help="retail: also the previous default (best of 7)"
    )
    args = ap.parse_args()
    import statsforecast.models  # noqa: F401 - imported once here, not charged to the first method

    retail_case(args)
    if not args.skip_demo:
        demo_case(args)


if __name__ == "__main__":
    main()

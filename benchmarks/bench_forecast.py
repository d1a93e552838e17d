"""Forecast accuracy and speed: the default pipeline vs plain seasonal naive and plain AutoETS.

Data: daily unit sales per SKU built from ``../shared/data/retail/online_retail_sample.csv``
(20 000 UCI Online Retail invoice lines, 2010-12-01 .. 2011-12-09; cancellations, returns and
non-product codes such as POST dropped). The SKUs sold on at least ``--min-days`` days form the
panel; the last ``--horizon`` days are held out. Per SKU: MASE (scaled by the in-sample
seasonal-naive MAE, season 7) and sMAPE on the held-out days; the table gives their mean and
median over SKUs and the wall time of each method. The Chinese promotion calendar does not
apply to a UK gift shop, so the pipeline runs with ``promotions=False`` (its default).

Run: .venv/bin/python benchmarks/bench_forecast.py [--horizon 14] [--min-days 30]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from opsnb.products.demand import mase, regular_series, smape
from opsnb.products.forecast import forecast_demand

RETAIL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "retail"


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


def plain(df, model_name, horizon):
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, SeasonalNaive

    model = AutoETS(season_length=7) if model_name == "AutoETS" else SeasonalNaive(season_length=7)
    sf = StatsForecast(models=[model], freq="D", n_jobs=1)
    out = sf.forecast(
        df=df.rename(columns={"series": "unique_id", "timestamp": "ds", "value": "y"}), h=horizon
    )
    return out.rename(columns={"unique_id": "series", "ds": "timestamp", model_name: "forecast"})


def score(fc, test, train):
    rows = []
    for sid, part in test.groupby("series"):
        y_in = train.loc[train["series"] == sid, "value"].to_numpy(float)
        scale = np.mean(np.abs(y_in[7:] - y_in[:-7]))
        f = fc[fc["series"] == sid].set_index("timestamp")["forecast"].reindex(part["timestamp"])
        f = np.maximum(f.to_numpy(float), 0.0)
        rows.append((sid, mase(part["value"], f, scale), smape(part["value"], f)))
    return pd.DataFrame(rows, columns=["series", "mase", "smape"])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--horizon", type=int, default=14)
    ap.add_argument("--min-days", type=int, default=30)
    args = ap.parse_args()
    sales = daily_sku_sales(RETAIL / "online_retail_sample.csv")
    days = sales.groupby("sku")["date"].nunique()
    sales = sales[sales["sku"].isin(days.index[days >= args.min_days])]
    full = regular_series(sales, series_col="sku", time_col="date", value_col="units", freq="D")
    cut = full["timestamp"].max() - pd.Timedelta(days=args.horizon)
    train, test = full[full["timestamp"] <= cut], full[full["timestamp"] > cut]
    print(
        f"{full['series'].nunique()} SKUs sold on ≥ {args.min_days} days, "
        f"{train['timestamp'].min().date()}..{cut.date()} train, {args.horizon} days held out; "
        f"zero days in train: {(train['value'] == 0).mean():.0%}"
    )
    results = {}
    t0 = time.perf_counter()
    pipe = forecast_demand(
        train,
        series_col="series",
        time_col="timestamp",
        value_col="value",
        horizon=args.horizon,
        freq="D",
    )
    results["default pipeline"] = (pipe.forecasts, time.perf_counter() - t0)
    for name in ("SeasonalNaive", "AutoETS"):
        t0 = time.perf_counter()
        fc = plain(train, name, args.horizon)
        results[f"plain {name}"] = (fc, time.perf_counter() - t0)
    print(f"\n{'method':<22}{'MASE mean':>10}{'median':>9}{'sMAPE mean':>12}{'seconds':>9}")
    for name, (fc, secs) in results.items():
        s = score(fc, test, train)
        print(
            f"{name:<22}{s['mase'].mean():>10.3f}{s['mase'].median():>9.3f}"
            f"{s['smape'].mean():>12.3f}{secs:>9.1f}"
        )
    print("\nmodels chosen:", pipe.choice["model"].value_counts().to_dict())


if __name__ == "__main__":
    main()

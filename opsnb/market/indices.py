"""Platform indices as GMV: calibration on the shop's own months, and the competitor comparison.

* **Index calibration**: platform indices (成交金额指数) are monotone, non-linear transforms of
  GMV. From the shop's own months (index and known ``own_gmv``) we fit either a power law
  ``gmv = c·index^k`` (least squares on logs; monotone iff k > 0) or an isotonic (pool-adjacent
  violators) curve, and report the leave-one-out MAPE. Estimates outside the own index range are
  extrapolations and flagged.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from opsnb.errors import ErrorCode

__all__ = [
    "IndexCalibration",
    "calibrate_index",
    "calibrate_from_market",
    "apply_calibration",
    "competitor_comparison",
]


def _pav(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Weighted pool-adjacent-violators: the non-decreasing least-squares fit to ``y``."""
    vals, wts, sizes = [], [], []
    for yi, wi in zip(y, w):
        vals.append(yi)
        wts.append(wi)
        sizes.append(1)
        while len(vals) > 1 and vals[-2] > vals[-1]:
            v = (vals[-2] * wts[-2] + vals[-1] * wts[-1]) / (wts[-2] + wts[-1])
            wts[-2] += wts[-1]
            sizes[-2] += sizes[-1]
            vals[-2] = v
            del vals[-1], wts[-1], sizes[-1]
    return np.repeat(vals, sizes)


@dataclass(frozen=True, eq=False)
class IndexCalibration:
    """Map from a platform index to an estimated value (GMV), fitted on the shop's own months.

    ``coef``/``exponent`` are the power-law c and k (NaN for isotonic); ``knots_x``/``knots_y``
    the isotonic curve; ``loo_mape`` the leave-one-out mean absolute percentage error;
    ``monotone`` whether the fitted map is increasing.
    """

    method: str
    n: int
    coef: float
    exponent: float
    loo_mape: float
    in_sample_mape: float
    monotone: bool
    index_min: float
    index_max: float
    error_code: str = ErrorCode.OK
    knots_x: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)
    knots_y: np.ndarray = field(default_factory=lambda: np.array([]), repr=False)

    def predict(self, index) -> np.ndarray:
        x = np.asarray(index, dtype=float)
        if self.method == "power":
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(x > 0, self.coef * x**self.exponent, 0.0)
        if self.method == "isotonic" and len(self.knots_x):
            return np.interp(x, self.knots_x, self.knots_y)
        return np.full(x.shape, np.nan)

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k not in ("knots_x", "knots_y")}

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([self.to_dict()])


def _fit_power(x, y):
    k, logc = np.polyfit(np.log(x), np.log(y), 1)
    return float(np.exp(logc)), float(k)


def _fit_iso(x, y):
    o = np.argsort(x)
    xs, ys = x[o], y[o]
    ux, inv = np.unique(xs, return_inverse=True)
    ym = np.bincount(inv, ys) / np.bincount(inv)
    return ux, _pav(ym, np.bincount(inv).astype(float))


def calibrate_index(index, value, *, method: str = "auto") -> IndexCalibration:
    """Fit ``value ≈ f(index)`` monotone; ``method`` is "power", "isotonic" or "auto".

    "auto" takes the power law when its exponent is positive and its leave-one-out MAPE is not
    worse than the isotonic curve's, else the isotonic curve. Fewer than 4 positive pairs give
    NaN with ``error_code="too_few_observations"``.
    """
    if method not in ("power", "isotonic", "auto"):
        raise ValueError(f"method must be 'power', 'isotonic' or 'auto', got {method!r}")
    x, y = np.asarray(index, dtype=float), np.asarray(value, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[ok], y[ok]
    n = len(x)
    if n < 4:
        return IndexCalibration(
            method,
            n,
            np.nan,
            np.nan,
            np.nan,
            np.nan,
            False,
            np.nan,
            np.nan,
            ErrorCode.TOO_FEW_OBSERVATIONS,
        )

    def loo(fit_predict):
        errs = []
        for i in range(n):
            m = np.arange(n) != i
            errs.append(abs(fit_predict(x[m], y[m], x[i]) - y[i]) / y[i])
        return float(np.mean(errs))

    def pw(xt, yt, xp):
        c, k = _fit_power(xt, yt)
        return c * xp**k

    def iso(xt, yt, xp):
        kx, ky = _fit_iso(xt, yt)
        return np.interp(xp, kx, ky)

    c, k = _fit_power(x, y)
    kx, ky = _fit_iso(x, y)
    res = {
        "power": IndexCalibration(
            "power",
            n,
            c,
            k,
            loo(pw),
            float(np.mean(abs(pw(x, y, x) - y) / y)),
            bool(k > 0),
            float(x.min()),
            float(x.max()),
        ),
        "isotonic": IndexCalibration(
            "isotonic",
            n,
            np.nan,
            np.nan,
            loo(iso),
            float(np.mean(abs(np.interp(x, kx, ky) - y) / y)),
            True,
            float(x.min()),
            float(x.max()),
            knots_x=kx,
            knots_y=ky,
        ),
    }
    if method != "auto":
        return res[method]
    p = res["power"]
    return (
        p
        if p.monotone and p.loo_mape <= res["isotonic"].loo_mape * 1.0 + 1e-12
        else res["isotonic"]
    )


def calibrate_from_market(
    market: pd.DataFrame, *, index_col: str = "sales_index", method: str = "auto"
) -> IndexCalibration:
    """Calibrate on the shop's own rows (``is_own`` with a known ``own_gmv``)."""
    own = market[market["is_own"].astype(bool) & market["own_gmv"].notna()]
    return calibrate_index(own[index_col], own["own_gmv"], method=method)


def apply_calibration(
    market: pd.DataFrame, cal: IndexCalibration, *, index_col: str = "sales_index"
) -> pd.DataFrame:
    """Add ``est_gmv`` (own rows keep their known GMV) and ``extrapolated`` (index outside the fit)."""
    out = market.copy()
    est = cal.predict(out[index_col].to_numpy(float))
    known = out["is_own"].astype(bool) & out["own_gmv"].notna()
    out["est_gmv"] = np.where(known, out["own_gmv"].astype(float), est)
    idx = out[index_col].astype(float)
    out["extrapolated"] = ~known & ((idx < cal.index_min) | (idx > cal.index_max))
    return out


def competitor_comparison(
    market: pd.DataFrame, *, value: str = "est_gmv", category: str | None = None
) -> pd.DataFrame:
    """One row per shop: value, share, visitor index, average price and growth (last vs first month).

    Columns: competitor, is_own, value, share, visitor_index, avg_price, growth, extrapolated_share.
    """
    d = market if category is None else market[market["category"] == category]
    d = d.assign(month=pd.to_datetime(d["month"]))
    first, last = d["month"].min(), d["month"].max()
    g = d.groupby("competitor")
    t = pd.DataFrame(
        {
            "is_own": g["is_own"].max().astype(bool),
            "value": g[value].sum(),
            "visitor_index": g["visitor_index"].mean() if "visitor_index" in d else np.nan,
            "avg_price": g.apply(
                lambda x: (
                    np.average(x["avg_price"], weights=x[value])
                    if x[value].sum() > 0
                    else x["avg_price"].mean()
                ),
                include_groups=False,
            ),
        }
    )
    t["share"] = t["value"] / t["value"].sum()
    v_first = d[d["month"] == first].groupby("competitor")[value].sum()
    v_last = d[d["month"] == last].groupby("competitor")[value].sum()
    t["growth"] = (v_last / v_first - 1).reindex(t.index)
    if "extrapolated" in d:
        t["extrapolated_share"] = (
            d[d["extrapolated"]].groupby("competitor")[value].sum().reindex(t.index).fillna(0)
            / t["value"]
        )
    else:
        t["extrapolated_share"] = np.nan
    t.index.name = "competitor"
    return t.sort_values("value", ascending=False).reset_index()[
        [
            "competitor",
            "is_own",
            "value",
            "share",
            "visitor_index",
            "avg_price",
            "growth",
            "extrapolated_share",
        ]
    ]

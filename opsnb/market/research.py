"""Market research: category trends, price bands, competitor indices, funnel, channel economics.

Inputs are the contract tables ``market`` (platform indices per month × category × shop × price
band) and ``daily_metrics`` (traffic, buyers, spend per day × channel), plus ``orders`` for
payback. Methods, stated once:

* **Seasonality-adjusted growth**: YoY compares a month with the same month a year earlier
  (seasonality cancels). MoM is computed on the seasonally adjusted series ``value / factor``,
  where the factor of a calendar month is the mean ratio of the value to its centred 2×12 moving
  average (classical multiplicative decomposition, factors normalised to mean 1). With fewer
  than 24 months no factor is estimated (factor 1, ``seasonal_adjusted=False``).
* **Index calibration**: platform indices (成交金额指数) are monotone, non-linear transforms of
  GMV. From the shop's own months (index and known ``own_gmv``) we fit either a power law
  ``gmv = c·index^k`` (least squares on logs; monotone iff k > 0) or an isotonic (pool-adjacent
  violators) curve, and report the leave-one-out MAPE. Estimates outside the own index range are
  extrapolations and flagged.
* **Funnel**: stage counts summed over days (daily unique users, so a multi-day figure is a sum of
  daily uniques); step rate = stage / previous stage; change against a previous period with a
  two-proportion z-test per step.
* **Channel economics**: CAC = spend / new buyers with an exact Poisson interval on the count;
  ROAS = GMV / spend with a delta-method (ratio-estimator) interval over days; ROI = ROAS ×
  margin − 1; payback = first month after acquisition in which the cumulative margin per acquired
  customer (from ``orders``, by the channel of the first order) reaches the CAC.

The code lives in :mod:`opsnb.market.trends`, :mod:`opsnb.market.indices`,
:mod:`opsnb.market.economics` and :mod:`opsnb.market.charts`; this module re-exports their names.
"""

from opsnb.market.charts import (
    plot_calibration,
    plot_category_trend,
    plot_funnel,
    plot_price_bands,
)
from opsnb.market.economics import (
    DEFAULT_STAGES,  # noqa: F401 - importable from here before the split
    channel_economics,
    funnel,
    payback_curves,
    payback_curves_from_counts,
)
from opsnb.market.indices import (
    IndexCalibration,
    apply_calibration,
    calibrate_from_market,
    calibrate_index,
    competitor_comparison,
)
from opsnb.market.trends import (
    category_trend,
    previous_period,
    price_band_table,
)

__all__ = [
    "previous_period",
    "category_trend",
    "price_band_table",
    "IndexCalibration",
    "calibrate_index",
    "calibrate_from_market",
    "apply_calibration",
    "competitor_comparison",
    "funnel",
    "channel_economics",
    "payback_curves",
    "payback_curves_from_counts",
    "plot_category_trend",
    "plot_price_bands",
    "plot_calibration",
    "plot_funnel",
]

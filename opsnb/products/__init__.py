"""Step 06: products and inventory — 商品运营 (ABC/XYZ, 爆款/潜力/平销/滞销, 动销率, turnover,
sell-through, per-SKU funnel), demand forecasts per SKU (statsforecast, chosen by backtest, with
un-censoring and promotion lifts), the inventory policy math and the 补货建议表 / 大促备货 / alerts.

This facade only re-exports; inside opsnb import from the defining module.
"""

from opsnb.products.classify import (
    PRODUCT_CLASSES,
    SellRate,
    abc_xyz,
    classify_products,
    sell_rate,
    sku_funnel,
    turnover,
)
from opsnb.products.demand import (
    SEASON_BY_FREQ,
    event_keys,
    event_lifts,
    infer_freq,
    mase,
    regular_series,
    season_for,
    smape,
    uncensor_demand,
)
from opsnb.products.forecast import (
    INTERMITTENT_MODELS,
    MODELS,
    DemandForecast,
    forecast_demand,
    statsforecast_models,
)
from opsnb.products.policy import (
    SafetyStock,
    fill_rate,
    normal_loss,
    order_quantity,
    safety_stock,
    safety_stock_from_quantile,
)
from opsnb.products.replenish import (
    PLAN_COLUMNS,
    PROMO_COLUMNS,
    forecast_sigma,
    overstock_alerts,
    promo_stock,
    replenishment_plan,
    stockout_alerts,
)

__all__ = [
    "PRODUCT_CLASSES",
    "abc_xyz",
    "classify_products",
    "SellRate",
    "sell_rate",
    "turnover",
    "sku_funnel",
    "SEASON_BY_FREQ",
    "infer_freq",
    "season_for",
    "regular_series",
    "uncensor_demand",
    "event_keys",
    "event_lifts",
    "mase",
    "smape",
    "MODELS",
    "INTERMITTENT_MODELS",
    "DemandForecast",
    "forecast_demand",
    "statsforecast_models",
    "SafetyStock",
    "normal_loss",
    "safety_stock",
    "safety_stock_from_quantile",
    "fill_rate",
    "order_quantity",
    "PLAN_COLUMNS",
    "PROMO_COLUMNS",
    "forecast_sigma",
    "replenishment_plan",
    "promo_stock",
    "stockout_alerts",
    "overstock_alerts",
]

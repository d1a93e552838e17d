"""The deterministic demo shop (演示店铺) with ground truth: design, orders, planning tables and
the generator that writes the store and files.

This facade only re-exports; inside opsnb import from the defining module.
"""

from opsnb.demo.orders import (
    orders_and_items,
    product_daily_table,
)
from opsnb.demo.profile import (
    CATEGORIES,
    CHANNEL_PROFILE,
    CHANNELS,
    DISCOUNT_NORMAL,
    DISCOUNT_PROMO,
    INDEX_A,
    INDEX_POWER,
    LINES_P_NORMAL,
    LINES_P_PROMO,
    MULTI_ORDER_P,
    QTY_P,
    SHOP_OPENED,
    anomaly_factors,
    anomaly_plan,
    expected,
    expected_aov,
    legacy_days,
    simulate_traffic,
    sku_catalog,
    sku_weights,
)
from opsnb.demo.shop import (
    DemoShop,
    generate,
    write_demo,
)
from opsnb.demo.stock import (
    SUPPLIERS,
    TAIL_SKUS,
    StockSim,
    product_catalog,
    simulate_stock,
    skus_table,
)
from opsnb.demo.tables import (
    experiment_tables,
    market_table,
    milestones_table,
    plan_table,
    targets_table,
)

__all__ = [
    "CHANNELS",
    "CHANNEL_PROFILE",
    "CATEGORIES",
    "DISCOUNT_NORMAL",
    "DISCOUNT_PROMO",
    "INDEX_A",
    "INDEX_POWER",
    "LINES_P_NORMAL",
    "LINES_P_PROMO",
    "MULTI_ORDER_P",
    "QTY_P",
    "SHOP_OPENED",
    "anomaly_factors",
    "anomaly_plan",
    "simulate_traffic",
    "expected",
    "expected_aov",
    "legacy_days",
    "sku_catalog",
    "sku_weights",
    "TAIL_SKUS",
    "SUPPLIERS",
    "product_catalog",
    "skus_table",
    "StockSim",
    "simulate_stock",
    "orders_and_items",
    "product_daily_table",
    "experiment_tables",
    "plan_table",
    "milestones_table",
    "targets_table",
    "market_table",
    "DemoShop",
    "generate",
    "write_demo",
]

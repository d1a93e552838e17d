"""Expected problems for every file of tests/fixtures/bad/: {file: (table, [str(DataProblem)])}.

Written from the fixture contents and checked line by line by reading each file (row numbers as
in the file: header = row 1). Print the current messages with:
    .venv/bin/python -c "from opsnb import data; data.read_file('tests/fixtures/bad/FILE', 'TABLE')"
"""

EXPECTED = {
    "daily_bad_line.csv": (
        "daily_metrics",
        [
            "daily_bad_line.csv, row 3: got '9 fields'; expected 8 fields like the header (quote cells that contain the separator)",
        ],
    ),
    "daily_buyers_gt_visitors.csv": (
        "daily_metrics",
        [
            "daily_buyers_gt_visitors.csv, row 3, column 'buyers': got 'buyers=45, visitors=30'; expected buyers (买家数) ≤ visitors (访客数)",
            "daily_buyers_gt_visitors.csv, row 4, column 'buyers': got 'buyers=20, orders=18'; expected buyers (买家数) ≤ orders (订单数)",
        ],
    ),
    "daily_duplicates.csv": (
        "daily_metrics",
        [
            "daily_duplicates.csv, row 4, column 'date, channel': got '2024-06-18, 自然搜索'; expected a unique (date, channel); duplicates row 2",
            "daily_duplicates.csv, row 6, column 'date, channel': got '2024-06-18, 抖音'; expected a unique (date, channel); duplicates row 3",
            "daily_duplicates.csv, row 7, column 'date, channel': got '2024-06-18, 自然搜索'; expected a unique (date, channel); duplicates row 2",
        ],
    ),
    "daily_missing_column.csv": (
        "daily_metrics",
        [
            "daily_missing_column.csv, column 'visitors'; expected a column 'visitors' (accepted headers: visitors, 访客数, 访客, uv; unrecognised headers in the file: UV数, 支付转化率)",
        ],
    ),
    "daily_negative_counts.csv": (
        "daily_metrics",
        [
            "daily_negative_counts.csv, row 2, column 'visitors': got '-1000'; expected a number ≥ 0",
            "daily_negative_counts.csv, row 3, column 'gmv': got '-5000'; expected a number ≥ 0",
            "daily_negative_counts.csv, row 3, column 'refund_orders': got '-2'; expected a number ≥ 0",
        ],
    ),
    "daily_unparseable.csv": (
        "daily_metrics",
        [
            "daily_unparseable.csv, row 2, column 'date': got '2024-13-45'; expected a date such as 2024-06-18, 2024/6/18, 20240618, 2024年6月18日 or an Excel date (a real calendar date)",
            "daily_unparseable.csv, row 3, column 'date': got '6/7/2024'; expected a date such as 2024-06-18, 2024/6/18, 20240618, 2024年6月18日 or an Excel date (ambiguous day/month order; write it as 2024-06-18)",
            "daily_unparseable.csv, row 4, column 'visitors': got '一千'; expected an integer count (write 1234.5, 1,234.5, ¥1,234.50 or 1.2万)",
            "daily_unparseable.csv, row 5, column 'buyers': got '12.5%'; expected an integer count, not a percentage (rates are derived from counts)",
            "daily_unparseable.csv, row 6, column 'orders': got '55.5'; expected a whole number (an integer count)",
            "daily_unparseable.csv, row 6, column 'gmv': got '5千'; expected a number (write 1234.5, 1,234.5, ¥1,234.50 or 1.2万)",
            "daily_unparseable.csv, row 7, column 'date': got ''; expected a value (this column may not be empty)",
            "daily_unparseable.csv, row 7, column 'gmv': got '1,23'; expected a number (write 1234.5, 1,234.5, ¥1,234.50 or 1.2万)",
        ],
    ),
    "empty.csv": (
        "daily_metrics",
        [
            "empty.csv, row 1; expected a header row naming the columns: date, channel, visitors, buyers, orders, gmv, refund_orders, refund_amount",
        ],
    ),
    "milestones_unknown_risk.csv": (
        "milestones",
        [
            "milestones_unknown_risk.csv, row 3, column 'risk': got '严重'; expected one of 无 / 低 / 中 / 高",
            "milestones_unknown_risk.csv, row 4, column 'risk': got 'high'; expected one of 无 / 低 / 中 / 高",
        ],
    ),
    "orders_duplicate_ids.csv": (
        "orders",
        [
            "orders_duplicate_ids.csv, row 4, column 'order_id': got 'E1001'; expected a unique (order_id); duplicates row 2",
            "orders_duplicate_ids.csv, row 5, column 'order_time': got '2024-06-18 25:00:00'; expected a date-time such as 2024-06-18 14:30:00 (or a date) (a real calendar date)",
            "orders_duplicate_ids.csv, row 5, column 'refund_amount': got 'refund_amount=120, amount=99.00'; expected refund_amount ≤ amount (实付金额)",
        ],
    ),
    "plan_unknown_status.csv": (
        "plan",
        [
            "plan_unknown_status.csv, row 3, column 'status': got '完成'; expected one of 未开始 / 进行中 / 已完成 / 延期",
            "plan_unknown_status.csv, row 4, column 'end': got 'end=2024-06-17, start=2024-06-18'; expected end (截止时间) on or after start (开始时间)",
            "plan_unknown_status.csv, row 4, column 'status': got '待定'; expected one of 未开始 / 进行中 / 已完成 / 延期",
            "plan_unknown_status.csv, row 5, column 'strategy': got ''; expected a value (this column may not be empty)",
            "plan_unknown_status.csv, row 5, column 'owner': got ''; expected a value (this column may not be empty)",
        ],
    ),
    "targets_rate_above_100.csv": (
        "targets",
        [
            "targets_rate_above_100.csv, row 3, column 'target': got 'target=120%, metric=conversion_rate'; expected a rate target (metric *_rate / *conversion) between 0 and 1 (0%–100%)",
        ],
    ),
}

"""Published BG/NBD and Gamma-Gamma fits on the CDNOW sample (reference numbers for test_clv).

Data: ``tests/fixtures/cdnow_summary.csv`` (ID, x, t_x, T, zbar; 2,357 customers, time in weeks,
zbar = mean value of the repeat purchases) — the CDNOW sample summary distributed by Fader & Hardie
with their papers, as shipped in the PyPI wheel Lifetimes-0.11.3 (MIT) at
``lifetimes/datasets/cdnow_customers_summary_with_transactions.csv``; obtained with
``pip download lifetimes==0.11.3 --no-deps && unzip -p Lifetimes-0.11.3-py3-none-any.whl
lifetimes/datasets/cdnow_customers_summary_with_transactions.csv > tests/fixtures/cdnow_summary.csv``
(sha256 7ddd11b55be3227edfc1d58675154e96971b0de3ad37ddd9280d1dba154b8b2f).

Numbers: printed in the papers (rounded as printed), not computed by opsnb.
"""

# Fader, Hardie & Lee (2005) "Counting your customers the easy way: an alternative to the
# Pareto/NBD model", Marketing Science 24(2):275-284, section 4 (BG/NBD on CDNOW, weeks).
BGNBD_CDNOW = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
BGNBD_CDNOW_LOGLIK = -9582.4
CDNOW_N_CUSTOMERS = 2357

# Fader, Hardie & Lee (2005) "RFM and CLV: using iso-value curves for customer base analysis",
# Journal of Marketing Research 42(4):415-430, Gamma-Gamma spend model on the 946 repeat buyers.
GAMMA_GAMMA_CDNOW = {"p": 6.25, "q": 3.74, "gamma": 15.44}
CDNOW_N_REPEAT_BUYERS = 946

"""Hand-computed closed forms for the inventory policy tests (tests/test_products_policy.py).

Produced with scipy (independent of opsnb) by:

    python -c "from scipy.stats import norm; import math
    z=norm.ppf(0.95); s=math.sqrt(4*25+400*1); print(z, s, z*s, 80+z*s)
    z2=norm.ppf(0.98); s2=math.sqrt(13*16+144*4); print(z2, s2, z2*s2, 156+z2*s2)
    G=lambda z: norm.pdf(z)-z*norm.sf(z); print(1-(10*G(1.0)-10*G(21.0))/200)"
"""

# Continuous review: d = 20/day, σd = 5, L = 4 days, σL = 1 day, CSL 95 %.
# σP = √(4·5² + 20²·1²) = √500; SS = z·σP; ROP = d·L + SS.
CONTINUOUS = dict(
    z=1.6448536269514722,
    sigma_over_protection=22.360679774997898,
    safety_stock=36.78004522900572,
    reorder_point=116.78004522900572,
)

# Periodic review: d = 12/day, σd = 4, L = 6, R = 7 (P = 13), σL = 2 days, CSL 98 %.
# σP = √(13·4² + 12²·2²) = 28; S = d·P + SS.
PERIODIC = dict(
    z=2.0537489106318225,
    sigma_over_protection=28.0,
    safety_stock=57.50496949769103,
    reorder_point=213.50496949769104,
)

# Fill rate of (s, Q) with backorders: d = 20, σd = 5, L = 4 (σL = 10), SS = 10 (z = 1),
# Q = 200: 1 − (σ·G(1) − σ·G(1 + Q/σ)) / Q.
FILL_RATE_SQ = 0.9958342264706157

"""BG/NBD and Gamma-Gamma: published CDNOW fit, independent integral formulation, simulation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from reference.clv_cdnow import (
    BGNBD_CDNOW,
    BGNBD_CDNOW_LOGLIK,
    CDNOW_N_CUSTOMERS,
    CDNOW_N_REPEAT_BUYERS,
    GAMMA_GAMMA_CDNOW,
)
from scipy import integrate, stats

from opsnb.errors import ErrorCode
from opsnb.market import clv

FIXTURE = Path(__file__).parent / "fixtures" / "cdnow_summary.csv"


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    return pd.read_csv(FIXTURE)


@pytest.fixture(scope="module")
def bg_fit(cdnow):
    return clv.fit_bgnbd(cdnow["x"], cdnow["t_x"], cdnow["T"])


def test_cdnow_fixture_is_the_published_sample(cdnow):
    assert len(cdnow) == CDNOW_N_CUSTOMERS
    assert int((cdnow["x"] > 0).sum()) == CDNOW_N_REPEAT_BUYERS


def test_log_likelihood_at_published_parameters_matches_paper(cdnow):
    ll = clv.bgnbd_log_likelihood(tuple(BGNBD_CDNOW.values()), cdnow["x"], cdnow["t_x"], cdnow["T"])
    assert ll == pytest.approx(BGNBD_CDNOW_LOGLIK, abs=0.05)


def test_bgnbd_fit_recovers_published_cdnow_parameters(bg_fit):
    assert bg_fit.converged and bg_fit.error_code == ErrorCode.OK
    got = bg_fit.params
    for k, v in BGNBD_CDNOW.items():
        assert got[k] == pytest.approx(v, abs=0.0006), k  # paper rounds to 3 decimals
    assert bg_fit.log_likelihood == pytest.approx(BGNBD_CDNOW_LOGLIK, abs=0.05)


def test_bgnbd_standard_errors_are_finite_and_intervals_cover_estimate(bg_fit):
    tab = bg_fit.to_frame()
    assert np.all(np.isfinite(tab["std_error"])) and np.all(tab["std_error"] > 0)
    assert np.all((tab["ci_low"] < tab["estimate"]) & (tab["estimate"] < tab["ci_high"]))


def _bgnbd_individual_lik_integrated(params, x, t_x, T):
    """Independent formulation: integrate the individual-level likelihood over the mixing laws.

    L(λ, p) = (1−p)^x λ^x e^{−λT} + [x>0] p (1−p)^{x−1} λ^x e^{−λ t_x},
    λ ~ Gamma(r, rate α), p ~ Beta(a, b).
    """
    r, alpha, a, b = params
    lam = stats.gamma(r, scale=1 / alpha)
    pdist = stats.beta(a, b)

    def inner(lmb):
        def f(p):
            v = (1 - p) ** x * lmb**x * np.exp(-lmb * T)
            if x > 0:
                v += p * (1 - p) ** (x - 1) * lmb**x * np.exp(-lmb * t_x)
            return v * pdist.pdf(p)

        return integrate.quad(f, 0, 1, limit=200, points=[1e-6, 1 - 1e-6])[0] * lam.pdf(lmb)

    return integrate.quad(inner, 0, np.inf, limit=200)[0]


@pytest.mark.parametrize(
    "x,t_x,T", [(0, 0.0, 38.86), (2, 30.43, 38.86), (7, 29.43, 38.86), (1, 1.71, 27.0)]
)
def test_bgnbd_closed_form_matches_numerical_integration(x, t_x, T):
    params = (0.9, 3.0, 1.7, 2.4)  # a > 1 keeps the beta density bounded for quad
    closed = clv.bgnbd_log_likelihood(params, [x], [t_x], [T])
    numeric = np.log(_bgnbd_individual_lik_integrated(params, x, t_x, T))
    assert closed == pytest.approx(numeric, rel=1e-6)


def _simulate_bgnbd(params, n, T, seed):
    r, alpha, a, b = params
    rng = np.random.default_rng(seed)
    lam = rng.gamma(r, 1 / alpha, n)
    p = rng.beta(a, b, n)
    xs, txs = np.zeros(n, int), np.zeros(n)
    for i in range(n):
        t = 0.0
        while True:
            t += rng.exponential(1 / lam[i])
            if t > T:
                break
            xs[i] += 1
            txs[i] = t
            if rng.random() < p[i]:
                break
    return xs, txs, np.full(n, float(T))


def test_bgnbd_fit_recovers_simulated_parameters_within_three_standard_errors():
    truth = {"r": 0.5, "alpha": 5.0, "a": 0.8, "b": 3.0}
    x, t_x, T = _simulate_bgnbd(tuple(truth.values()), 4000, 52, seed=7)
    fit = clv.fit_bgnbd(x, t_x, T)
    se = fit.std_errors()
    for k, v in truth.items():
        assert abs(fit.params[k] - v) < 3 * se[k], (k, fit.params[k], se[k])


def test_unconditional_expected_purchases_match_simulation():
    params = (0.5, 5.0, 0.8, 3.0)
    x, _, _ = _simulate_bgnbd(params, 20000, 30, seed=11)
    expected = float(clv.bgnbd_expected_purchases(params, 30))
    assert x.mean() == pytest.approx(expected, abs=4 * x.std() / np.sqrt(len(x)))


def test_conditional_expectation_for_new_customer_equals_unconditional(bg_fit):
    # a customer seen at T=0 with no purchase carries no information beyond the prior
    got = clv.bgnbd_expected_purchases(bg_fit, 10.0, [0], [0.0], [0.0])[0]
    assert got == pytest.approx(float(clv.bgnbd_expected_purchases(bg_fit, 10.0)), rel=1e-10)


def test_p_alive_is_one_without_repeat_and_falls_with_a_long_silence(bg_fit):
    pa = clv.bgnbd_p_alive(bg_fit, [0, 5, 5], [0.0, 37.0, 5.0], [38.0, 38.0, 38.0])
    assert pa[0] == 1.0
    assert pa[1] > 0.8 and pa[2] < 0.2


def test_gamma_gamma_fit_recovers_published_cdnow_parameters(cdnow):
    rep = cdnow[cdnow["x"] > 0]
    fit = clv.fit_gamma_gamma(rep["x"], rep["zbar"])
    assert fit.n_customers == CDNOW_N_REPEAT_BUYERS
    for k, v in GAMMA_GAMMA_CDNOW.items():
        assert fit.params[k] == pytest.approx(v, abs=0.01), k  # printed to 2 decimals
    assert fit.mean_spend == pytest.approx(fit.p * fit.gamma / (fit.q - 1))


def test_gamma_gamma_likelihood_matches_integral_over_the_rate():
    p, q, g = 6.25, 3.74, 15.44
    x, m = 3, 27.5
    # mean of x Gamma(p, rate ν) spends is Gamma(px, rate xν); ν ~ Gamma(q, rate γ)
    f = lambda nu: (
        stats.gamma.pdf(m, p * x, scale=1 / (x * nu)) * stats.gamma.pdf(nu, q, scale=1 / g)
    )
    numeric = np.log(integrate.quad(f, 0, np.inf, limit=200)[0])
    assert clv.gamma_gamma_log_likelihood((p, q, g), [x], [m]) == pytest.approx(numeric, rel=1e-8)


def test_expected_spend_shrinks_towards_population_mean():
    fit = (6.25, 3.74, 15.44)
    pop = 6.25 * 15.44 / (3.74 - 1)
    few, many = clv.gamma_gamma_expected_spend(fit, [1, 50], [100.0, 100.0])
    assert pop < few < many < 100.0
    assert clv.gamma_gamma_expected_spend(fit, [0], [0.0])[0] == pytest.approx(pop)


def test_customer_summary_counts_purchase_days_and_times():
    tx = pd.DataFrame(
        {
            "customer_id": ["a", "a", "a", "a", "b"],
            "order_time": pd.to_datetime(
                [
                    "2024-01-01 09:00",
                    "2024-01-01 18:00",
                    "2024-01-08 00:00",
                    "2024-01-15 00:00",
                    "2024-01-10 00:00",
                ]
            ),
            "amount": [10.0, 5.0, 20.0, 40.0, 7.0],
        }
    )
    s = clv.customer_summary(tx, as_of="2024-01-22").set_index("customer_id")
    assert s.loc["a", "x"] == 2 and s.loc["a", "t_x"] == 2.0 and s.loc["a", "T"] == 3.0
    assert s.loc["a", "m"] == 30.0 and s.loc["a", "monetary"] == 75.0
    assert s.loc["b", "x"] == 0 and s.loc["b", "m"] == 0.0
    assert s.loc["b", "T"] == pytest.approx(12 / 7)


def test_predict_clv_interval_brackets_point_estimate(cdnow, bg_fit):
    rep = cdnow[cdnow["x"] > 0]
    gg = clv.fit_gamma_gamma(rep["x"], rep["zbar"])
    summ = cdnow.rename(columns={"ID": "customer_id", "zbar": "m"}).head(200)
    out = clv.predict_clv(bg_fit, gg, summ, horizon=52, n_draws=60)
    assert list(out.columns) == [
        "customer_id",
        "p_alive",
        "expected_purchases",
        "expected_spend",
        "clv",
        "clv_low",
        "clv_high",
    ]
    assert np.all(out["clv_low"] <= out["clv"] + 1e-9) and np.all(
        out["clv"] <= out["clv_high"] + 1e-9
    )
    # no discounting, margin 1: CLV = purchases × spend
    assert_allclose(out["clv"], out["expected_purchases"] * out["expected_spend"], rtol=1e-10)


def test_degenerate_data_returns_nan_fit_with_error_code():
    fit = clv.fit_bgnbd([0, 0, 0], [0, 0, 0], [5, 5, 5])
    assert fit.error_code == ErrorCode.TOO_FEW_OBSERVATIONS and np.isnan(fit.r)
    gg = clv.fit_gamma_gamma([1, 2], [3.0, 4.0])
    assert gg.error_code == ErrorCode.TOO_FEW_OBSERVATIONS and np.isnan(gg.p)


def test_invalid_times_raise_value_error():
    with pytest.raises(ValueError, match="t_x <= T"):
        clv.fit_bgnbd([1] * 12, [10.0] * 12, [5.0] * 12)


def _orders(n: int, *, repeat_share: float = 0.6, seed: int = 3) -> pd.DataFrame:
    """Orders of ``n`` customers over 2024: a first purchase in the first 200 days, then (for
    ``repeat_share`` of them) repeat purchases at each customer's own rate until they drop out
    (own drop-out probability), each customer with their own spend level."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        day = int(rng.integers(0, 200))
        gap, drop, spend = rng.gamma(2.0, 15.0), rng.beta(1.5, 6.0), 25 * rng.gamma(3.0, 1 / 3)
        rows.append((f"c{i}", day, rng.gamma(6.0, spend / 6)))
        if rng.random() < repeat_share:
            while True:
                day += int(rng.exponential(gap)) + 1
                if day >= 365 or rng.random() < drop:
                    break
                rows.append((f"c{i}", day, rng.gamma(6.0, spend / 6)))
    df = pd.DataFrame(rows, columns=["customer_id", "day", "amount"])
    df["order_time"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(df.pop("day"), unit="D")
    return df


AS_OF = pd.Timestamp("2025-01-01")


def test_clv_from_orders_is_the_fits_and_predictions_it_is_built_from():
    orders = _orders(400)
    got = clv.clv_from_orders(orders, as_of=AS_OF, horizon_days=182, margin=0.3, n_draws=40)
    # the same steps by hand: weekly summary, both fits, per-customer predictions
    summ = clv.customer_summary(orders, as_of=AS_OF, unit_days=7.0)
    bg = clv.fit_bgnbd(summ["x"], summ["t_x"], summ["T"])
    gg = clv.fit_gamma_gamma(summ["x"], summ["m"])
    assert bg.converged and gg.converged
    pred = clv.predict_clv(bg, gg, summ, horizon=26.0, margin=0.3, n_draws=40, seed=0)
    draws = pred.attrs["mean_clv_draws"]
    expected = pd.DataFrame(
        [
            {
                "mean_clv": pred["clv"].mean(),
                "mean_clv_low": np.quantile(draws, 0.025),
                "mean_clv_high": np.quantile(draws, 0.975),
                "mean_p_alive": pred["p_alive"].mean(),
                "n_fitted": 400,
                "n_customers": 400,
                "spend_model": "gamma-gamma",
                "error_code": ErrorCode.OK,
            }
        ]
    )
    pd.testing.assert_frame_equal(got.to_frame(), expected, rtol=1e-9)
    assert got.mean_clv_low < got.mean_clv < got.mean_clv_high
    pd.testing.assert_frame_equal(got.bg.to_frame(), bg.to_frame(), rtol=1e-9)
    pd.testing.assert_frame_equal(got.gg.to_frame(), gg.to_frame(), rtol=1e-9)
    pd.testing.assert_frame_equal(got.customers, pred, rtol=1e-9)
    d = got.to_dict()
    assert d["bg"] == bg.to_dict() and d["gg"] == gg.to_dict()
    assert {k: d[k] for k in expected.columns} == expected.iloc[0].to_dict()


def test_clv_from_orders_fits_a_sample_but_counts_every_customer():
    got = clv.clv_from_orders(_orders(300), as_of=AS_OF, max_customers=120, n_draws=0)
    assert (got.n_customers, got.n_fitted, len(got.customers)) == (300, 120, 120)
    assert np.isnan(got.mean_clv_low) and np.isnan(got.mean_clv_high)  # no draws, no interval


def test_clv_from_orders_without_repeat_buyers_is_nan_with_the_error_code():
    one_time = _orders(50, repeat_share=0.0)
    got = clv.clv_from_orders(one_time, as_of=AS_OF)
    expected = pd.DataFrame(
        [
            {
                "mean_clv": np.nan,
                "mean_clv_low": np.nan,
                "mean_clv_high": np.nan,
                "mean_p_alive": np.nan,
                "n_fitted": 50,
                "n_customers": 50,
                "spend_model": "",
                "error_code": ErrorCode.TOO_FEW_OBSERVATIONS,
            }
        ]
    )
    pd.testing.assert_frame_equal(got.to_frame(), expected)
    assert got.customers is None and got.bg.error_code == ErrorCode.TOO_FEW_OBSERVATIONS


def test_clv_from_orders_falls_back_to_observed_spend_without_gamma_gamma():
    # 60 customers, 5 repeat buyers: BG/NBD fits, Gamma-Gamma (needs 10) does not
    orders = _orders(60, repeat_share=0.1, seed=5)
    summ = clv.customer_summary(orders, as_of=AS_OF).set_index("customer_id")
    assert 0 < (summ["x"] > 0).sum() < 10
    got = clv.clv_from_orders(orders, as_of=AS_OF, margin=0.5, n_draws=0)
    assert got.spend_model == "observed mean (Gamma-Gamma not converged)"
    assert got.error_code == ErrorCode.OK
    assert got.gg.error_code == ErrorCode.TOO_FEW_OBSERVATIONS
    c = got.customers.set_index("customer_id").join(summ)
    # spend: a repeat buyer's own mean, the repeat buyers' mean for everyone else
    pop = summ.loc[summ["x"] > 0, "m"].mean()
    want = np.where(c["x"] > 0, c["m"], pop)
    assert_allclose(c["expected_spend"], want, rtol=1e-4)
    assert_allclose(c["clv"], 0.5 * want * c["expected_purchases"], rtol=1e-4)
    assert got.mean_clv == pytest.approx(c["clv"].mean())

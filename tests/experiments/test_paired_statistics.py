"""The report's statistics: Student-t quantiles, paired differences and their intervals,
checked against printed t tables and NumPy."""
import math

import numpy as np
import pytest

from alexnet_tf.experiments import statistics


@pytest.mark.parametrize("df, p, table", [
    # Two-sided 95% and 99% columns of a printed t table (3 decimals).
    (1, 0.975, 12.706), (2, 0.975, 4.303), (3, 0.975, 3.182), (4, 0.975, 2.776),
    (5, 0.975, 2.571), (9, 0.975, 2.262), (30, 0.975, 2.042), (120, 0.975, 1.980),
    (2, 0.995, 9.925), (4, 0.995, 4.604), (10, 0.95, 1.812),
])
def test_t_quantiles_match_the_printed_table(df, p, table):
    assert statistics.t_quantile(p, df) == pytest.approx(table, abs=6e-4)
    assert statistics.t_quantile(1 - p, df) == pytest.approx(-table, abs=6e-4)


def test_t_cdf_of_one_and_two_degrees_of_freedom_in_closed_form():
    # df=1 is Cauchy: 1/2 + atan(t)/pi; df=2: 1/2 + t / (2 sqrt(t^2 + 2)).
    for t in (-7.0, -1.0, 0.0, 0.3, 2.0, 40.0):
        assert statistics.t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-14)
        assert statistics.t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(t * t + 2)),
                                                       abs=1e-14)
    with pytest.raises(ValueError, match="positive integer"):
        statistics.t_cdf(1.0, 0)


def test_t_quantiles_agree_with_scipy_where_it_is_installed():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 6, 7, 15, 60):
        for p in (0.6, 0.9, 0.975, 0.999):
            assert statistics.t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-9)


def test_paired_differences_over_the_shared_seeds_against_numpy():
    first = {0: 0.10, 1: 0.12, 2: 0.11, 5: 0.50}       # seed 5: only in this arm
    second = {0: 0.13, 1: 0.16, 2: 0.13, 3: 0.90}      # seed 3: only in this one
    result = statistics.paired(first, second, tests=4)
    d = np.array([0.03, 0.04, 0.02])
    assert result["seeds"] == [0, 1, 2] and result["n"] == 3
    np.testing.assert_allclose(result["differences"], d, atol=1e-15)
    assert result["mean"] == pytest.approx(d.mean()) and result["sd"] == pytest.approx(
        d.std(ddof=1))
    half = 4.303 * d.std(ddof=1) / np.sqrt(3)           # t_{0.975, 2} from the table
    np.testing.assert_allclose(result["interval"], [d.mean() - half, d.mean() + half],
                               rtol=0, atol=2e-5)
    assert result["excludes_zero"] is True
    # Four intervals read together: each at 1 - 0.05 / 4 = 98.75%, t_{0.99375, 2} = 8.860.
    half = 8.860 * d.std(ddof=1) / np.sqrt(3)
    np.testing.assert_allclose(result["bonferroni_interval"],
                               [d.mean() - half, d.mean() + half], rtol=0, atol=2e-5)
    assert result["bonferroni_excludes_zero"] is False


def test_one_pair_gives_no_interval_and_missing_values_are_left_out():
    result = statistics.paired({0: 0.1, 1: None}, {0: 0.2, 1: 0.3})
    assert result["n"] == 1 and result["interval"] is None and result["excludes_zero"] is None
    assert statistics.summary([0.1, None, float("nan"), 0.3]) == pytest.approx(
        {"n": 2, "mean": 0.2, "sd": np.std([0.1, 0.3], ddof=1)})


def test_the_verdicts():
    from alexnet_tf.experiments.report import verdict
    paired = statistics.paired
    assert verdict(paired({0: .1, 1: .1, 2: .1}, {0: .13, 1: .14, 2: .12}), 1) == \
        "resolved, in the paper's direction"
    assert verdict(paired({0: .1, 1: .1, 2: .1}, {0: .13, 1: .14, 2: .12}), -1) == \
        "resolved, opposite to the paper's direction"
    assert verdict(paired({0: .1, 1: .1}, {0: .13, 1: .05}), 1).startswith("not resolved at")
    # One image more on every seed: a t interval of no width, not a resolved effect.
    assert verdict(paired({0: .1, 1: .2}, {0: .1 + 1 / 360, 1: .2 + 1 / 360}), 1).startswith(
        "not resolved: every seed gave the same difference")
    assert verdict(paired({0: .1}, {0: .2}), 1).startswith("no interval: 1 paired seed")

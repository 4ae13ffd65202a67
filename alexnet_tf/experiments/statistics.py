"""The report's numbers: mean and standard deviation per arm, paired differences over the
seeds both arms ran, and the 95% paired-t interval of the mean difference (n - 1 degrees
of freedom).

Student's t quantiles are computed here (the package does not depend on SciPy): the CDF for
an integer number of degrees of freedom has a closed form (a finite series in
cos(theta), theta = atan(t / sqrt(df))), and the quantile is found by bisection.
"""
from __future__ import annotations

import math

import numpy as np


def t_cdf(t: float, df: int) -> float:
    """P(T <= t) for Student's t with `df` (>= 1, integer) degrees of freedom."""
    if df < 1 or int(df) != df:
        raise ValueError(f"degrees of freedom must be a positive integer, got {df}")
    df = int(df)
    theta = math.atan2(t, math.sqrt(df))
    s, c = math.sin(theta), math.cos(theta)
    if df % 2:     # odd: (theta + sin cos (1 + 2/3 cos^2 + 2*4/(3*5) cos^4 + ...)) / pi
        term, total = 1.0, 1.0 if df > 1 else 0.0
        for k in range(1, (df - 1) // 2):
            term *= c * c * (2 * k) / (2 * k + 1)
            total += term
        value = (theta + s * c * total) / math.pi if df > 1 else theta / math.pi
    else:          # even: sin (1 + 1/2 cos^2 + 1*3/(2*4) cos^4 + ...) / 2
        term, total = 1.0, 1.0
        for k in range(1, df // 2):
            term *= c * c * (2 * k - 1) / (2 * k)
            total += term
        value = s * total / 2
    return 0.5 + value


def t_quantile(p: float, df: int) -> float:
    """The t with P(T <= t) = p (0 < p < 1), to about 1e-12."""
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p < 0.5:
        return -t_quantile(1 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
        if high - low < 1e-13 * max(1.0, high):
            break
    return (low + high) / 2


def summary(values) -> dict:
    """{"n", "mean", "sd"} of the finite values (sd with n - 1; None below two values)."""
    values = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
    n = len(values)
    return {"n": n, "mean": float(values.mean()) if n else None,
            "sd": float(values.std(ddof=1)) if n > 1 else None}


def paired(first: dict, second: dict, *, level: float = 0.95, tests: int = 1) -> dict:
    """The difference second - first over the seeds both dicts ({seed: value}) hold.

    {"seeds", "differences", "n", "mean", "sd", "interval" [low, high] (None below two
    pairs), "excludes_zero", "bonferroni_interval", "bonferroni_excludes_zero"}: the
    Bonferroni interval is at level 1 - (1 - level) / tests, for `tests` intervals read
    together."""
    seeds = sorted(s for s in set(first) & set(second)
                   if first[s] is not None and second[s] is not None
                   and math.isfinite(first[s]) and math.isfinite(second[s]))
    differences = [second[s] - first[s] for s in seeds]
    result = {"seeds": seeds, "differences": differences, **summary(differences),
              "level": level, "interval": None, "excludes_zero": None,
              "bonferroni_level": 1 - (1 - level) / max(tests, 1),
              "bonferroni_interval": None, "bonferroni_excludes_zero": None}
    n = len(differences)
    if n < 2:
        return result
    for key, lvl in (("", level), ("bonferroni_", result["bonferroni_level"])):
        half = t_quantile(1 - (1 - lvl) / 2, n - 1) * result["sd"] / math.sqrt(n)
        interval = [result["mean"] - half, result["mean"] + half]
        result[f"{key}interval"] = interval
        result[f"{key}excludes_zero"] = bool(interval[0] > 0 or interval[1] < 0)
    return result

"""Fuzzing with hypothesis: random small data sets through every estimator, random QPs
through the solver.

An estimator either rejects a data set with a ValueError that names the problem, or fits
it and predicts valid labels and probabilities. The solver's answer satisfies the KKT
conditions of the box QP. The profile keeps the module under a minute on one core.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from sklearn_iw.solvers import solve_box_qp
from tests.all_estimators import ESTIMATORS, NAMES

# Sized for about 15 s on one core (a fit of these data sets takes about 10 ms).
FUZZ = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

LABELS = {
    "int": lambda k: np.array([-3, 0, 2, 7, 11])[:k],
    "str": lambda k: np.array(["ant", "bee", "cat", "dog", "eel"])[:k],
    "bool": lambda k: np.array([False, True])[:k],
}


@st.composite
def datasets(draw):
    """``(X, y, sample_weight)``: 1-40 samples, 1-5 features of a random dtype, 2-5
    possible classes of int, str or bool labels (not all need to occur), and no weights
    or random non-negative ones (zeros included)."""
    n_samples = draw(st.integers(1, 40))
    n_features = draw(st.integers(1, 5))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    if dtype == np.int64:
        elements = st.integers(-1000, 1000)
    else:
        elements = st.floats(-1e3, 1e3, allow_nan=False, width=32 if dtype == np.float32 else 64)
    X = draw(hnp.arrays(dtype, (n_samples, n_features), elements=elements))
    kind = draw(st.sampled_from(sorted(LABELS)))
    n_classes = 2 if kind == "bool" else draw(st.integers(2, 5))
    labels = LABELS[kind](n_classes)
    y = labels[draw(hnp.arrays(np.int64, n_samples, elements=st.integers(0, n_classes - 1)))]
    weight = None
    if draw(st.booleans()):
        weight = draw(hnp.arrays(np.float64, n_samples, elements=st.floats(0, 10) | st.just(0.0)))
    return X, y, weight


def _expected_error(y, weight, X, est):
    """The message a data set must be rejected with, or None if it must be fitted."""
    if weight is not None and not np.any(weight > 0):
        return "at least one non-zero"
    if len(np.unique(y if weight is None else y[weight > 0])) < 2:
        return "at least 2 classes"
    # alpha / sum(w) beyond the training dtype (found by this test: weights of 1e-228 and
    # less in float32, two subnormal weights of 5e-324 in float64); integer X trains in
    # float64.
    with np.errstate(over="ignore"):
        l2_coef = est.alpha / (len(y) if weight is None else weight.sum())
    largest = np.finfo(np.float32 if X.dtype == np.float32 else np.float64).max
    if est.optimizer != "importance_weights" and l2_coef > largest:
        return "overflows"
    return None


@pytest.mark.parametrize("optimizer", ["adam", "importance_weights"])
@pytest.mark.parametrize("name", NAMES)
@FUZZ
@given(problem=datasets())
def test_random_data_is_fitted_or_rejected_clearly(name, optimizer, problem):
    X, y, weight = problem
    est = ESTIMATORS[name].make(optimizer=optimizer, max_iter=2)
    expected = _expected_error(y, weight, X, est)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits hit max_iter
        if expected is not None:
            with pytest.raises(ValueError, match=expected):
                est.fit(X, y, sample_weight=weight)
            return
        est.fit(X, y, sample_weight=weight)
    np.testing.assert_array_equal(est.classes_, np.unique(y))
    pred = est.predict(X)
    assert pred.shape == y.shape and np.isin(pred, est.classes_).all()
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), len(est.classes_))
    assert np.all((proba >= 0) & (proba <= 1))
    tol = 1e-5 if proba.dtype == np.float32 else 1e-12
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=tol)
    # The predicted class is a most probable one (ties may go either way).
    chosen = proba[np.arange(len(y)), np.searchsorted(est.classes_, pred)]
    assert np.all(chosen >= proba.max(axis=1) - tol)
    assert np.all(np.isfinite(est.decision_function(X)))


@st.composite
def box_qps(draw):
    """``(G, p, C, alpha0)``: G = J J^T of rank <= min(B, d), margins of either sign,
    bounds with zeros, an optional warm start anywhere (the solver clips it)."""
    B = draw(st.integers(1, 30))
    d = draw(st.integers(1, 12))
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    scale = 10.0 ** draw(st.integers(-3, 3))
    J = rng.standard_normal((B, d)) * scale
    if draw(st.booleans()):
        J[rng.random(B) < 0.3] = 0.0  # samples without gradient
    p = rng.uniform(-0.5, 1.0, B)
    C = rng.uniform(0.0, 2.0, B) * (rng.random(B) > 0.2)
    alpha0 = rng.uniform(-1.0, 3.0, B) if draw(st.booleans()) else None

    def tensor(a):
        return None if a is None else torch.as_tensor(a, dtype=dtype)

    return tensor(J @ J.T), tensor(p), tensor(C), tensor(alpha0)


@settings(FUZZ, max_examples=300)
@given(problem=box_qps())
def test_random_box_qps_satisfy_kkt(problem):
    G, p, C, alpha0 = problem
    res = solve_box_qp(G, p, C, alpha0)
    # In float32 the relative gap of the rounded optimum can exceed the solver's floor
    # (1e-4) when C_i >> alpha_i (its C_i max(0, -g_i) term): judged by KKT below.
    assert res.converged or G.dtype == torch.float32
    a, G64, p64, C64 = (t.double() for t in (res.alpha, G, p, C))
    # Exactly feasible, exact zeros for samples that cannot be served.
    assert bool(((a >= 0) & (a <= C64)).all())
    diag = G64.diagonal()
    servable = (diag > torch.finfo(G.dtype).eps * diag.max()) & (p64 > 0) & (C64 > 0)
    assert bool((a[~servable] == 0).all())
    if not bool(servable.any()):
        return
    # KKT on the servable samples: g_i = (G a - p)_i >= 0 at 0, <= 0 at C_i, 0 in between.
    g = (G64 @ a - p64)[servable]
    a, C64 = a[servable], C64[servable]
    at_zero, at_bound = a <= 0, a >= C64
    violation = torch.where(at_zero, -g, torch.where(at_bound, g, g.abs())).clamp(min=0)
    scale = float(p64.abs().max() + G64.abs().max() * C64.max())
    rtol = 1e-6 if G.dtype == torch.float64 else 1e-3
    assert float(violation.max()) <= rtol * scale

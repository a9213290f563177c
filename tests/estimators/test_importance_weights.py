"""Estimators trained by importance weights: sample weights, batch norm, defaults on hard tables."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.testing import assert_allclose

from sklearn_iw import IWLogisticRegression, IWMLPClassifier
from sklearn_iw.solvers import ImportanceWeights
from tests.iw_cases import blobs, logistic, max_diff, mlp, weights

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def test_batch_norm_with_importance_weights_raises():
    X, y = blobs(40, 2, 0)
    est = mlp(batch_norm=True, optimizer="importance_weights", max_iter=2)
    with pytest.raises(ValueError, match="BatchNorm"):
        est.fit(X, y)


# =========================================================================== sample weights
def _full_batch(model: str, **spec):
    make = logistic if model == "logistic" else mlp
    optimizer = ImportanceWeights(p=0.3, C=0.2, qp_tol=1e-12, **spec)
    return make(optimizer=optimizer, batch_size="full", max_iter=8)


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_integer_sample_weight_equals_duplicated_rows(model):
    """C_i = C * w_i: two copies of a sample with bound C act as one with bound 2 C."""
    X, y = blobs(30, 2, 0)
    doubled = np.array([1, 4, 8, 15, 22, 27])
    sample_weight = np.ones(len(X))
    sample_weight[doubled] = 2.0
    weighted = _full_batch(model).fit(X, y, sample_weight=sample_weight)
    duplicated = _full_batch(model).fit(np.vstack([X, X[doubled]]), np.r_[y, y[doubled]])
    unweighted = _full_batch(model).fit(X, y)
    scale = max(1.0, max(float(np.abs(w).max()) for w in weights(weighted)))
    assert max_diff(weighted, duplicated) <= 1e-9 * scale
    # Not vacuous: the weights matter (some alpha sits at its bound C_i).
    assert max_diff(weighted, unweighted) > 1e-4 * scale
    assert np.any(weighted.importance_weights_ == 0.2 * sample_weight)
    assert weighted.n_iter_ == duplicated.n_iter_


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_uniform_sample_weight_scales_C(model):
    X, y = blobs(30, 3, 0)
    scaled = _full_batch(model).fit(X, y, sample_weight=np.full(len(X), 2.5))
    reference = logistic if model == "logistic" else mlp
    spec = ImportanceWeights(p=0.3, C=0.5, qp_tol=1e-12)
    plain = reference(optimizer=spec, batch_size="full", max_iter=8).fit(X, y)
    assert max_diff(scaled, plain) <= 1e-9
    assert_allclose(scaled.importance_weights_, plain.importance_weights_, rtol=0, atol=1e-9)


def test_default_logistic_model_stays_above_the_majority_class():
    """5000 rows of overlapping, 65/35 classes with 10% flipped labels: importance weights
    at their defaults (margins p=1) end within a point of scikit-learn's logistic
    regression, not below the majority class as without the step check."""
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(
        6000,
        10,
        n_informative=4,
        n_redundant=2,
        weights=[0.65],
        flip_y=0.1,
        class_sep=0.5,
        random_state=0,
    )
    X_train, y_train, X_test, y_test = X[:5000], y[:5000], X[5000:], y[5000:]
    majority = max(y_test.mean(), 1 - y_test.mean())
    reference = LogisticRegression().fit(X_train, y_train).score(X_test, y_test)
    model = IWLogisticRegression(max_iter=2, random_state=0).fit(X_train, y_train)
    score = model.score(X_test, y_test)
    assert score > majority + 0.02
    assert score >= reference - 0.01


@pytest.mark.parametrize("model", [IWLogisticRegression, IWMLPClassifier])
def test_defaults_learn_a_table_of_repeated_rows(model):
    """Three categorical features, 12 distinct rows repeated over 1500 samples (as the
    titanic table): with all copies of a row in one batch every step fitted a few rows,
    and the default fits ended at or below the majority class (0.43-0.66 held-out
    accuracy where scikit-learn's logistic regression scores 0.70)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.RandomState(0)
    n = 2000
    X = np.c_[rng.randint(0, 3, n), rng.randint(0, 2, n), rng.randint(0, 2, n)].astype(float)
    logit = 1.2 * X[:, 0] - 1.5 * X[:, 1] + 0.8 * X[:, 2] - 0.7
    y = (rng.rand(n) < 1 / (1 + np.exp(-logit))).astype(int)
    X = (X - X.mean(0)) / X.std(0)
    X_train, y_train, X_test, y_test = X[:1500], y[:1500], X[1500:], y[1500:]
    reference = LogisticRegression().fit(X_train, y_train).score(X_test, y_test)
    for seed in range(2):
        score = model(random_state=seed).fit(X_train, y_train).score(X_test, y_test)
        assert score >= reference - 0.01, seed

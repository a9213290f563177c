"""Numerical failures of the leave-one-out computations become NaN with a reason; bugs propagate."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

import sklearn_iw.engine._stopping as stopping_module
import sklearn_iw.loo._attributes as attributes_module
from sklearn_iw import (
    IWLogisticRegression,
    IWMLPClassifier,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# ------------------------------------------------------------------ leave-one-out failures
def _extreme_class_weight_fit() -> IWMLPClassifier:
    """A float32 fit whose estimate cannot be computed: with class weights of 1e8 on
    separable data the small MLP's outputs saturate, the estimate's curvature
    ``l''/l'^2`` comes out infinite (``||e||^4`` underflows in float32), and the Cholesky
    factorisation of its jackknife matrix raised ``torch.linalg.LinAlgError`` when
    ``loo_estimate_`` was first read (class weights from 1e2 to 1e24 did, at 10 epochs).
    Should the estimate learn to handle these inputs, this test needs other ones."""
    X, y = make_classification(40, 5, class_sep=3.0, random_state=0)
    return IWMLPClassifier(
        hidden_layer_sizes=(4,), class_weight={0: 1e8, 1: 1e8}, max_iter=10, random_state=0
    ).fit(X.astype(np.float32), y)


def test_extreme_class_weight_gives_a_nan_estimate_with_a_reason():
    est = _extreme_class_weight_fit()
    # Pickling settles the pending estimate first: it must not raise either.
    pickle.dumps(est)
    with pytest.warns(
        UserWarning, match="loo_estimate_ is NaN: the estimate's factorisation failed"
    ):
        assert np.isnan(est.loo_estimate_)
    assert est.loo_reason_["estimate"].startswith("the estimate's factorisation failed: ")
    assert np.isnan(est.loo_influence_).all()
    # The other quantities are not affected.
    assert est.loo_reason_["bound"] is None and est.loo_reason_["replay"] is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert 0.0 <= est.loo_bound_ <= 1.0


@pytest.mark.parametrize(
    "error",
    [
        torch.linalg.LinAlgError("linalg.cholesky: not positive-definite"),
        np.linalg.LinAlgError("Singular matrix"),
        FloatingPointError("overflow encountered in multiply"),
        ValueError("array must not contain infs or NaNs"),
        RuntimeError("probability tensor contains either inf, nan or element < 0"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_numerical_errors_of_the_estimate_become_its_reason(monkeypatch, error):
    def fail(*args, **kwargs):
        raise error

    monkeypatch.setattr(attributes_module, "loo_margins", fail)
    X, y = make_classification(40, 4, random_state=0)
    est = IWLogisticRegression(max_iter=3, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="loo_estimate_ is NaN"):
        assert np.isnan(est.loo_estimate_)
    assert str(error).rstrip(".") in est.loo_reason_["estimate"]


def test_programming_errors_of_the_estimate_are_not_hidden(monkeypatch):
    def fail(*args, **kwargs):
        raise TypeError("a bug")

    monkeypatch.setattr(attributes_module, "loo_margins", fail)
    X, y = make_classification(40, 4, random_state=0)
    est = IWLogisticRegression(max_iter=3, random_state=0).fit(X, y)
    with pytest.raises(TypeError, match="a bug"):
        est.loo_estimate_  # noqa: B018


def test_numerical_error_of_the_bound_becomes_its_reason(monkeypatch):
    def fail(*args, **kwargs):
        raise FloatingPointError("overflow in the stopping rule")

    monkeypatch.setattr(stopping_module, "scores_without_each_sample", fail)
    X, y = make_classification(40, 4, random_state=0)
    est = IWLogisticRegression(max_iter=3, random_state=0).fit(X, y)
    assert "overflow in the stopping rule" in est.loo_reason_["bound"]
    # The replayed stopping rule serves the replay too: it refits from scratch.
    assert est.loo_reason_["replay"] is not None
    with pytest.warns(UserWarning, match="loo_bound_ is NaN"):
        assert np.isnan(est.loo_bound_)

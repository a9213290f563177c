"""Divergence: the engine rolls back to the last sound weights and says so."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
import torch.serialization
from sklearn.exceptions import ConvergenceWarning

from sklearn_iw import IWMLPClassifier
from sklearn_iw.solvers import SGD, ImportanceWeights
from tests.all_estimators import ESTIMATORS, NAMES, data

# Short fits stop at max_iter; that warning is noise here (pytest.warns still records it).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# --------------------------------------------------------------------------- divergence
def _weights(est):
    return [p.detach().clone() for p in est.net_.module_.parameters()]


def test_divergence_restores_the_last_sound_weights():
    # Steps of 1000 blow a ReLU network up after a few epochs (the sigmoid and tanh of
    # the LSTM and the linear model stay bounded, see the first-epoch test below).
    X, y = data(60, 5)
    X = X.astype(np.float32)
    params = dict(optimizer=SGD(lr=1e3), batch_size=20, max_iter=30, tol=0.0, alpha=0.0)
    with pytest.warns(ConvergenceWarning, match="optimizer diverged.*NaN or infinite") as info:
        est = ESTIMATORS["mlp"].make(**params).fit(X, y)
    message = str(next(w.message for w in info if "diverged" in str(w.message)))
    assert f"in epoch {est.net_.diverged_at_}." in message
    # The fit keeps its best epoch's weights (the lowest training loss before it diverged).
    kept = int(np.argmin(est.loss_curve_)) + 1
    assert f"weights after epoch {kept} were restored" in message
    assert "Lower the learning rate" in message
    assert 1 <= est.n_iter_ < est.net_.diverged_at_
    assert len(est.loss_curve_) == est.n_iter_ == len(est.net_.history)
    assert np.all(np.isfinite(est.loss_curve_))
    assert np.all(np.isfinite(est.predict_proba(X)))
    # The weights are those of the same training stopped before it diverged.
    stopped = ESTIMATORS["mlp"].make(**{**params, "max_iter": est.n_iter_}).fit(X, y)
    for restored, reference in zip(_weights(est), _weights(stopped), strict=True):
        assert torch.equal(restored, reference)


@pytest.mark.parametrize("rule", [SGD, ImportanceWeights])
@pytest.mark.parametrize("early_stopping", [False, True])
@pytest.mark.parametrize("name", NAMES)
def test_loss_exploding_in_the_first_epoch_keeps_the_initial_weights(name, early_stopping, rule):
    # A step of 1e38 overflows float32 weights at once: the next batch's loss is not finite
    # (importance weights skip the QP of non-finite gradients and report a NaN loss).
    X, y = data(60)
    X = X.astype(np.float32)
    params = dict(batch_size=10, early_stopping=early_stopping)
    # The importance-weights step check would halve a step of 1e38 to a sound one: it is
    # off here, so that the step overflows as SGD's does.
    settings = {"sufficient_decrease": 0.0} if rule is ImportanceWeights else {}
    est = ESTIMATORS[name].make(optimizer=rule(lr=1e38, **settings), **params)
    with pytest.warns(ConvergenceWarning, match="in epoch 1.*weights after epoch 0"):
        est.fit(X, y)
    assert est.n_iter_ == 0 and est.loss_curve_ == []
    assert np.all(np.isfinite(est.predict_proba(X)))
    if rule is ImportanceWeights:
        with pytest.warns(UserWarning, match="training diverged"):
            assert np.isnan(est.loo_bound_)
    # The initial weights: one step of 1e-300 (0 in float32) leaves them as they are.
    start = ESTIMATORS[name].make(optimizer=rule(lr=1e-300), max_iter=1, **params).fit(X, y)
    for restored, initial in zip(_weights(est), _weights(start), strict=True):
        assert torch.equal(restored, initial)


@pytest.mark.parametrize("name", NAMES)
def test_partial_fit_that_diverges_keeps_the_weights_it_started_from(name):
    X, y = data(60)
    X = X.astype(np.float32)
    est = ESTIMATORS[name].make(optimizer=SGD(lr=0.1), batch_size=10)
    est.partial_fit(X, y, classes=[0, 1])
    before = _weights(est)
    est.net_.optimizer_.param_groups[0]["lr"] = 1e38
    with pytest.warns(ConvergenceWarning, match="in epoch 2.*weights after epoch 1"):
        est.partial_fit(X, y)
    assert est.n_iter_ == 1 and len(est.loss_curve_) == 1
    for now, then in zip(_weights(est), before, strict=True):
        assert torch.equal(now, then)
    # The optimizer starts afresh and training goes on from there.
    est.net_.optimizer_.param_groups[0]["lr"] = 0.1
    est.partial_fit(X, y)
    assert est.n_iter_ == 2 and np.all(np.isfinite(est.loss_curve_))


def test_no_divergence_warning_on_a_sound_fit():
    X, y = data(60)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        est = IWMLPClassifier(hidden_layer_sizes=(4,), n_iter_no_change=2, random_state=0)
        est.fit(X, y)
    assert est.net_.diverged_at_ is None

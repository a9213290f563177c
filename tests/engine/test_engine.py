"""What the engine does with every optimizer: early stopping, update clipping, verbose output."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_iw import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier
from sklearn_iw.engine._engine import TrainingEngine
from sklearn_iw.solvers import OPTIMIZERS, SGD, Adam
from tests.classification_references import easy_blobs, small_problem

# Most fits below are deliberately short; their ConvergenceWarning is noise here (the
# warning itself is tested with pytest.warns, which records regardless of this filter).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# --------------------------------------------------------------------------- early stopping
@pytest.mark.parametrize("cls", [IWLogisticRegression, IWMLPClassifier])
def test_early_stopping_records_validation_scores(cls):
    X, y = easy_blobs()
    est = cls(
        optimizer=Adam(lr=0.05),
        early_stopping=True,
        n_iter_no_change=5,
        max_iter=200,
        random_state=0,
    ).fit(X, y)
    assert est.n_iter_ < 200
    assert len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.best_validation_score_ == 1.0
    assert est.best_loss_ is None
    # 10 % of 300 samples held out: accuracies are multiples of 1/30.
    assert_allclose(
        np.array(est.validation_scores_) * 30,
        np.round(np.array(est.validation_scores_) * 30),
        atol=1e-9,
    )
    # Stopped n_iter_no_change epochs after the first best score (tol is 1e-4).
    first_best = int(np.argmax(est.validation_scores_))
    assert est.n_iter_ == first_best + 1 + 5
    # The restored best epoch can be the first: 30 held-out blobs saturate at accuracy 1.
    assert est.score(X, y) >= 0.9

    # The best epoch's weights are restored: a run of the same seed (same split, same
    # shuffles) stopped by max_iter right at that epoch ends with the same weights.
    short = clone(est).set_params(max_iter=first_best + 1).fit(X, y)
    assert short.validation_scores_ == est.validation_scores_[: first_best + 1]
    assert_allclose(short.decision_function(X), est.decision_function(X), rtol=1e-10)


def test_without_early_stopping_best_loss_is_min_of_curve():
    X, y = small_problem()
    est = IWLogisticRegression(max_iter=10).fit(X, y)
    assert est.validation_scores_ is None
    assert est.best_validation_score_ is None
    assert est.best_loss_ == min(est.loss_curve_)


# --------------------------------------------------------------------------- update_clip
def test_update_clip_bounds_each_coordinate_of_the_update():
    X, y = small_problem(n_classes=3)
    params = dict(hidden_layer_sizes=(10,), batch_size="full", max_iter=1, random_state=5)
    initial = IWMLPClassifier(optimizer=SGD(lr=1e-12), **params).fit(X, y)
    clipped = IWMLPClassifier(optimizer=SGD(lr=5.0), update_clip=1e-3, **params).fit(X, y)
    free = IWMLPClassifier(optimizer=SGD(lr=5.0), **params).fit(X, y)
    moves_clipped = [
        np.abs(a - b).max()
        for a, b in zip(
            clipped.coefs_ + clipped.intercepts_, initial.coefs_ + initial.intercepts_, strict=True
        )
    ]
    moves_free = [
        np.abs(a - b).max()
        for a, b in zip(
            free.coefs_ + free.intercepts_, initial.coefs_ + initial.intercepts_, strict=True
        )
    ]
    assert max(moves_clipped) <= 1e-3 + 1e-9
    # The clip was active: some coordinate moved by exactly the bound ...
    assert max(moves_clipped) == pytest.approx(1e-3, rel=1e-6)
    # ... and without it the same step moves further.
    assert max(moves_free) > 1e-2


def _record_updates(monkeypatch) -> list[float]:
    """Record the global L2 norm of every update the engine's steps make (each
    ``train_step`` as a whole: optimizer, weight decay and clipping)."""
    norms = []
    original = TrainingEngine.train_step

    def recording(self, batch, **fit_params):
        before = [p.detach().clone() for p in self.module_.parameters() if p.requires_grad]
        step = original(self, batch, **fit_params)
        after = [p.detach() for p in self.module_.parameters() if p.requires_grad]
        moves = torch.cat([(a - b).reshape(-1) for a, b in zip(after, before, strict=True)])
        norms.append(float(torch.linalg.vector_norm(moves)))
        return step

    monkeypatch.setattr(TrainingEngine, "train_step", recording)
    return norms


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_clip_norm_bounds_every_update_of_every_optimizer(optimizer, monkeypatch):
    X, y = small_problem(n_classes=3)
    bound = 1e-4
    params = dict(hidden_layer_sizes=(8,), optimizer=optimizer, batch_size=40, random_state=0)
    norms = _record_updates(monkeypatch)
    IWMLPClassifier(max_iter=2, clip_norm=bound, **params).fit(X, y)
    n_steps = len(norms)
    assert n_steps >= 2
    assert max(norms) <= bound * (1 + 1e-9), norms
    # The bound was active: some step was cut to it, and without it the steps move further.
    assert max(norms) == pytest.approx(bound, rel=1e-9)
    IWMLPClassifier(max_iter=1, **params).fit(X, y)
    assert max(norms[n_steps:]) > 2 * bound


def test_clip_norm_bounds_the_lstm_steps(monkeypatch):
    # Pascanu et al.'s setting, recurrent networks: the LSTM's steps through its fused
    # kernel (importance weights, the default) obey the bound as well.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 6))
    y = (X[:, 0] > 0).astype(int)
    norms = _record_updates(monkeypatch)
    IWLSTMClassifier(hidden_size=4, max_iter=2, clip_norm=1e-4, random_state=0).fit(X, y)
    assert len(norms) == 2 and max(norms) == pytest.approx(1e-4, rel=1e-9)
    assert max(norms) <= 1e-4 * (1 + 1e-9)


@pytest.mark.parametrize("update_clip", [None, 1e-3])
def test_clip_norm_above_every_update_changes_nothing(update_clip):
    X, y = small_problem(n_classes=3)
    params = dict(hidden_layer_sizes=(10,), optimizer=SGD(lr=0.5), update_clip=update_clip)
    params.update(batch_size=30, max_iter=3, random_state=0)
    free = IWMLPClassifier(**params).fit(X, y)
    loose = IWMLPClassifier(clip_norm=1e6, **params).fit(X, y)
    for a, b in zip(free.coefs_ + free.intercepts_, loose.coefs_ + loose.intercepts_, strict=True):
        assert_array_equal(a, b)


def test_update_clip_then_clip_norm_order():
    # The linear model starts at zero, so one full-batch SGD step's update is coef_ itself.
    X, y = small_problem(n_classes=3)
    params = dict(optimizer=SGD(lr=5.0), batch_size="full", max_iter=1)
    free = IWLogisticRegression(**params).fit(X, y)
    update = np.concatenate([free.coef_.ravel(), free.intercept_])
    cut, bound = 0.2, 0.5
    clipped = np.clip(update, -cut, cut)
    assert np.abs(update).max() > cut and np.linalg.norm(clipped) > bound  # both act
    expected = clipped * bound / np.linalg.norm(clipped)
    both = IWLogisticRegression(update_clip=cut, clip_norm=bound, **params).fit(X, y)
    got = np.concatenate([both.coef_.ravel(), both.intercept_])
    assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.linalg.norm(got) <= bound * (1 + 1e-12) and np.abs(got).max() <= cut
    # The other order (norm first, then the cut) takes another step.
    scaled = update * bound / np.linalg.norm(update)
    assert not np.allclose(np.clip(scaled, -cut, cut), expected, rtol=1e-3)


def test_update_clip_zero_is_rejected():
    X, y = small_problem()
    with pytest.raises(InvalidParameterError, match="update_clip"):
        IWLogisticRegression(update_clip=0).fit(X, y)


# --------------------------------------------------------------------------- verbose
def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = small_problem()
    est = IWLogisticRegression(max_iter=4, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"^\s*\d+\s", line)]
    assert len(rows) == est.n_iter_ == 4
    assert [int(r.split()[0]) for r in rows] == [1, 2, 3, 4]


def test_verbose_zero_prints_nothing(capsys):
    X, y = small_problem()
    IWLogisticRegression(max_iter=4, verbose=0).fit(X, y)
    IWMLPClassifier(
        hidden_layer_sizes=(4,), max_iter=30, early_stopping=True, n_iter_no_change=2
    ).fit(X, y)
    assert capsys.readouterr().out == ""

"""The stopping rule: skorch's EarlyStopping for the run, the same rule for every run
without one sample, and the engine's stop once every callback has seen the epoch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_moons
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import EarlyStopping

from sklearn_iw import IWLogisticRegression, IWMLPClassifier
from sklearn_iw.engine._stopping import StoppingRule, scores_without_each_sample
from sklearn_iw.solvers import ImportanceWeights

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

SCORES = [1.0, 0.9, 0.9, 0.95, 0.85, 0.86, 0.86, 0.9, 0.7, 0.71, 0.72, 0.73, 0.74]


class _History(list):
    def __getitem__(self, key):
        if isinstance(key, tuple):
            row, column = key
            return list.__getitem__(self, row)[column]
        return list.__getitem__(self, key)


class _Net:
    """What skorch's EarlyStopping reads of a net."""

    def __init__(self):
        self.history = _History()
        self.verbose = 0
        self.module_ = torch.nn.Linear(1, 1)


def _skorch_stop(scores, patience, tol) -> int:
    """The epoch at which skorch's EarlyStopping (absolute threshold) stops, or -1."""
    stopping = EarlyStopping(
        monitor="train_loss", patience=patience, threshold=tol, threshold_mode="abs"
    )
    net = _Net()
    stopping.on_train_begin(net)
    for epoch, score in enumerate(scores):
        net.history.append({"train_loss": score, "epoch": epoch + 1})
        try:
            stopping.on_epoch_end(net)
        except KeyboardInterrupt:
            return epoch
    return -1


@pytest.mark.parametrize("patience", [1, 2, 3])
@pytest.mark.parametrize("tol", [0.0, 0.01, 0.06])
def test_the_rule_stops_where_skorch_early_stopping_stops(patience, tol):
    rng = np.random.default_rng(patience)
    runs = [SCORES, list(np.cumsum(rng.normal(-0.01, 0.05, 15)) + 1.0)]
    rule = StoppingRule(len(runs), patience, tol, torch.device("cpu"))
    for epoch in range(max(map(len, runs))):
        scores = [run[epoch] if epoch < len(run) else np.inf for run in runs]
        rule.update(torch.tensor(scores, dtype=torch.float64), epoch)
    expected = [_skorch_stop(run, patience, tol) for run in runs]
    assert rule.stopped_at.tolist() == expected
    assert any(epoch >= 0 for epoch in expected)  # the rule was put to the test


def test_scores_without_each_sample_are_the_weighted_means_without_it():
    rng = np.random.default_rng(0)
    weight, losses = rng.uniform(0.1, 2.0, 7), rng.uniform(0.0, 3.0, 7)
    without, full = scores_without_each_sample(torch.tensor(weight), torch.tensor(losses))
    for k in range(7):
        keep = np.arange(7) != k
        assert without[k].item() == pytest.approx(np.average(losses[keep], weights=weight[keep]))
    assert full.item() == pytest.approx(np.average(losses, weights=weight))


def test_state_round_trips():
    rule = StoppingRule(3, 2, 0.1, torch.device("cpu"))
    rule.update(torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), 0)
    state = rule.state_dict()
    other = StoppingRule(3, 2, 0.1, torch.device("cpu"))
    other.load_state_dict(state)
    for name, value in rule.state_dict().items():
        assert torch.equal(value, getattr(other, name))
    rule.update(torch.tensor([5.0, 5.0, 5.0], dtype=torch.float64), 1)
    assert not torch.equal(rule.misses, state["misses"])  # the state was copied


@pytest.mark.parametrize("optimizer", ["importance_weights", "adam"])
def test_a_fit_stops_when_the_loss_stops_improving_and_callbacks_see_the_last_epoch(optimizer):
    from skorch.callbacks import Callback

    class Epochs(Callback):
        def on_epoch_end(self, net, **kwargs):
            self.seen_ = getattr(self, "seen_", 0) + 1

    X = np.random.default_rng(0).normal(size=(80, 3))
    y = (X[:, 0] > 0).astype(int)
    est = IWMLPClassifier(
        (4,),
        optimizer=optimizer,
        max_iter=200,
        tol=10.0,
        n_iter_no_change=3,
        callbacks=[("epochs", Epochs())],
        random_state=0,
    ).fit(X, y)
    # tol=10: no epoch improves on the first, so the fit stops after 1 + 3 epochs.
    assert est.n_iter_ == 4
    assert dict(est.net_.callbacks_)["epochs"].seen_ == 4
    assert dict(est.net_.callbacks_)["stopping"].stopped_


def test_the_runs_without_each_sample_are_followed_for_importance_weights_only():
    X = np.random.default_rng(1).normal(size=(30, 2))
    y = (X[:, 0] > 0).astype(int)
    iw = IWLogisticRegression(max_iter=5, random_state=0).fit(X, y)
    adam = IWLogisticRegression(optimizer="adam", max_iter=5, random_state=0).fit(X, y)
    assert len(dict(iw.net_.callbacks_)["stopping"].rule_.best) == 31
    assert len(dict(adam.net_.callbacks_)["stopping"].rule_.best) == 1


def test_a_fit_ends_with_the_weights_of_its_best_epoch():
    """Steps too large for the data make the loss rise again: the fit keeps the weights
    after its lowest-loss epoch, those of a fit that ran exactly that many epochs."""
    X, y = make_moons(40, noise=0.15, random_state=1)
    X = StandardScaler().fit_transform(X)

    def fit(max_iter):
        spec = ImportanceWeights(p=0.1, C=10.0, lr=30.0, sufficient_decrease=0.0)
        return IWMLPClassifier(
            (4,),
            activation="tanh",
            optimizer=spec,
            batch_size=16,
            max_iter=max_iter,
            n_iter_no_change=1000,
            random_state=0,
        ).fit(X, y)

    full = fit(15)
    best = int(np.argmin(full.loss_curve_))
    assert best < 14, "the loss should rise after its lowest epoch"
    assert full.n_iter_ == 15 and full.best_loss_ == full.loss_curve_[best]
    short = fit(best + 1)
    for kept, reference in zip(full.coefs_, short.coefs_, strict=True):
        np.testing.assert_array_equal(kept, reference)
    assert full.score(X, y) == short.score(X, y)

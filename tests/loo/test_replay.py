"""Leave-one-out: the replay against brute-force refits, the attributes and their reasons.

The reference is independent of the code under test: ``n`` refits of a clone without
each sample (``clone(est).fit(X[keep], y[keep])``), whose decision value at the left-out
sample is what :func:`leave_one_out` must give, to 1e-9 in float64.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_blobs, make_moons
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWLogisticRegression, IWMLPClassifier
from sklearn_iw.loo._replay import _start_epochs
from sklearn_iw.model_selection import leave_one_out
from sklearn_iw.solvers import ImportanceWeights

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _iw(p: float) -> ImportanceWeights:
    # A tight QP tolerance: two runs that solve the same QPs agree to ~qp_tol.
    return ImportanceWeights(p=p, C=10.0, qp_tol=1e-10)


def _blobs(n, centers, seed, std=1.5):
    X, y = make_blobs(n, centers=centers, cluster_std=std, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _moons(n, seed):
    X, y = make_moons(n, noise=0.15, random_state=seed)
    return StandardScaler().fit_transform(X), y


def _repeated(data):
    """``data`` with its first 6 rows twice more and the next 4 once more (40 rows)."""
    X, y = data
    extra = np.r_[0:6, 0:6, 6:10]
    return np.vstack([X, X[extra]]), np.r_[y, y[extra]]


def _fixed(**kwargs):
    params = dict(max_iter=10, n_iter_no_change=1000, random_state=0, device="cpu")
    return {**params, **kwargs}


# name: (data, estimator). Minibatches of 16 keep the number of batches when a sample
# is removed (n % 16 != 1).
REPLAY_CASES = {
    "logistic-minibatch": (
        lambda: _blobs(40, 2, 0),
        lambda: IWLogisticRegression(optimizer=_iw(0.02), **_fixed(batch_size=16)),
    ),
    "logistic-full-3-classes": (
        lambda: _blobs(45, 3, 1),
        lambda: IWLogisticRegression(optimizer=_iw(0.02), **_fixed(batch_size="full")),
    ),
    "logistic-schedule": (
        lambda: _blobs(40, 2, 2),
        lambda: IWLogisticRegression(
            optimizer=_iw(0.02), lr_schedule="cosine", **_fixed(batch_size=16)
        ),
    ),
    "logistic-modified-huber": (
        lambda: _moons(40, 0),
        lambda: IWLogisticRegression(
            loss="modified_huber", optimizer=_iw(0.02), **_fixed(batch_size="full")
        ),
    ),
    # Rows repeated 2-3 times: copies go to different batches, and leaving one out is
    # leaving out its last copy.
    "logistic-repeated-rows": (
        lambda: _repeated(_blobs(28, 2, 3)),
        lambda: IWLogisticRegression(optimizer=_iw(0.02), **_fixed(batch_size=16)),
    ),
    "mlp-minibatch": (
        lambda: _moons(40, 1),
        lambda: IWMLPClassifier(
            (4,), activation="tanh", optimizer=_iw(0.05), **_fixed(batch_size=16)
        ),
    ),
    # Steps too large for the data: the loss rises again, and the fit keeps an earlier
    # epoch's weights (runs without an active sample keep their own best epochs).
    "mlp-best-epoch-earlier": (
        lambda: _moons(40, 1),
        lambda: IWMLPClassifier(
            (4,),
            activation="tanh",
            optimizer=ImportanceWeights(
                p=0.02, C=10.0, qp_tol=1e-10, lr=30.0, sufficient_decrease=0.0
            ),
            **_fixed(batch_size=16, max_iter=15),
        ),
    ),
    # Stopping on the training loss: some runs without a never-active sample go on
    # where the full run stopped.
    "mlp-loss-stop": (
        lambda: _blobs(40, 2, 0),
        lambda: IWMLPClassifier(
            (3,),
            activation="tanh",
            optimizer=_iw(0.05),
            **_fixed(batch_size=16, max_iter=20, n_iter_no_change=2, tol=0.01),
        ),
    ),
}


def brute_force_decisions(estimator, X, y, sample_weight=None) -> np.ndarray:
    """Decision value at each sample of a clone refitted without it."""
    values = []
    for k in range(len(y)):
        keep = np.arange(len(y)) != k
        weight = None if sample_weight is None else sample_weight[keep]
        model = clone(estimator).fit(X[keep], y[keep], sample_weight=weight)
        values.append(model.decision_function(X[k : k + 1])[0])
    return np.array(values)


@pytest.fixture(scope="module", params=list(REPLAY_CASES))
def replay_case(request):
    make_data, make_estimator = REPLAY_CASES[request.param]
    X, y = make_data()
    estimator = make_estimator()
    return request.param, X, y, estimator, leave_one_out(estimator, X, y)


def test_replay_equals_brute_force_refits(replay_case):
    name, X, y, estimator, result = replay_case
    assert result.reason is None
    expected = brute_force_decisions(estimator, X, y)
    np.testing.assert_allclose(result.decision, expected, rtol=0, atol=1e-9)
    labels = np.unique(y)
    if expected.ndim == 1:
        expected_labels = labels[(expected > 0).astype(int)]
    else:
        expected_labels = labels[expected.argmax(axis=1)]
    np.testing.assert_array_equal(result.predictions, expected_labels)
    assert result.error == np.mean(expected_labels != y)
    # Only the ever-active samples are re-run, from the epoch they first acted in.
    final = result.estimator
    start, _ = _start_epochs(final)
    # (A sample with copies is left out as its last copy: only that one is replayed.)
    stand_in = dict(final.net_.callbacks_)["loo"].stand_in_.numpy()
    own = stand_in == np.arange(len(y))
    assert own.all() == (name != "logistic-repeated-rows")
    assert result.n_replayed == (own & (start >= 0)).sum() < len(y)
    if final.n_iter_ == final.max_iter:  # a fixed number of epochs: each replay runs to it
        epochs = final.max_iter - start[own & (start >= 0)]
        assert result.cost_fraction == pytest.approx(epochs.sum() / (len(y) * final.max_iter))
    assert 0 < result.cost_fraction < 1
    if name == "mlp-loss-stop":
        # The loss criterion stopped the run, and some runs without a never-active sample
        # go on where it stopped: those are replayed from the end (checked above).
        goes_on = (final.activation_epoch_ < 0) & (start == final.n_iter_)
        assert final.n_iter_ < final.max_iter and goes_on.sum() >= 1
    # The fit on all the data is an ordinary fit.
    np.testing.assert_array_equal(
        final.decision_function(X), clone(estimator).fit(X, y).decision_function(X)
    )


def test_replay_in_parallel_equals_sequential():
    make_data, make_estimator = REPLAY_CASES["logistic-minibatch"]
    X, y = make_data()
    one = leave_one_out(make_estimator(), X, y, n_jobs=1)
    two = leave_one_out(make_estimator(), X, y, n_jobs=2)
    np.testing.assert_array_equal(one.decision, two.decision)
    assert (one.error, one.n_replayed, one.cost_fraction) == (
        two.error,
        two.n_replayed,
        two.cost_fraction,
    )


def test_replay_with_sample_weight():
    X, y = _blobs(40, 2, 4)
    weight = np.random.RandomState(0).uniform(0.5, 2.0, len(y))
    estimator = IWLogisticRegression(optimizer=_iw(0.02), **_fixed(batch_size=16))
    result = leave_one_out(estimator, X, y, sample_weight=weight)
    expected = brute_force_decisions(estimator, X, y, weight)
    np.testing.assert_allclose(result.decision, expected, rtol=0, atol=1e-9)


def test_replay_of_a_pipeline_is_the_last_steps_on_fixed_preprocessing():
    X, y = _blobs(40, 2, 5)
    X = 3.0 * X + 1.0
    clf = IWLogisticRegression(optimizer=_iw(0.02), **_fixed(batch_size=16))
    pipe = Pipeline([("scale", StandardScaler()), ("clf", clf)])
    result = leave_one_out(pipe, X, y)
    scaled = StandardScaler().fit_transform(X)
    np.testing.assert_allclose(
        result.decision, brute_force_decisions(clf, scaled, y), rtol=0, atol=1e-9
    )
    assert isinstance(result.estimator, Pipeline)
    np.testing.assert_array_equal(result.estimator.predict(X), clone(pipe).fit(X, y).predict(X))


def test_without_the_lemma_every_sample_is_refitted():
    X, y = _blobs(30, 2, 6)
    estimator = IWLogisticRegression(optimizer="adam", **_fixed(batch_size=10, max_iter=5))
    result = leave_one_out(estimator, X, y)
    assert result.reason == "the optimizer is not 'importance_weights'"
    assert result.n_replayed == len(y) and result.cost_fraction == 1.0
    np.testing.assert_allclose(
        result.decision, brute_force_decisions(estimator, X, y), rtol=0, atol=1e-12
    )


def test_activation_epochs_and_reasons():
    X, y = _blobs(40, 2, 0)
    est = IWLogisticRegression(optimizer=_iw(0.02), **_fixed(batch_size=16)).fit(X, y)
    epochs = est.activation_epoch_
    assert epochs.shape == (40,) and epochs.min() >= -1 and epochs.max() < est.n_iter_
    np.testing.assert_array_equal(est.support_, np.flatnonzero(epochs >= 0))
    assert est.loo_reason_ == {"bound": None, "estimate": None, "replay": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        dropout = IWMLPClassifier(
            (4,), dropout=0.2, optimizer=_iw(0.02), **_fixed(batch_size=16)
        ).fit(X, y)
    reason = dropout.loo_reason_["replay"]
    assert reason.startswith("dropout masks")
    with pytest.warns(UserWarning, match=f"loo_estimate_ is NaN: {reason}"):
        assert np.isnan(dropout.loo_estimate_)
    adam = IWLogisticRegression(optimizer="adam", **_fixed()).fit(X, y)
    assert set(adam.loo_reason_.values()) == {"the optimizer is not 'importance_weights'"}


def test_estimate_refuses_too_many_active_samples(monkeypatch):
    from sklearn_iw.loo import _attributes, _recorder

    X, y = _blobs(40, 2, 0)
    for module in (_attributes, _recorder):
        monkeypatch.setattr(module, "MAX_ACTIVE_FOR_ESTIMATE", 3)
    est = IWLogisticRegression(optimizer=_iw(0.02), **_fixed(batch_size=16)).fit(X, y)
    assert len(est.support_) > 3
    reason = est.loo_reason_["estimate"]
    assert reason.startswith(f"{len(est.support_)} samples were active, more than the 3")
    assert est.loo_reason_["bound"] is None and np.isfinite(est.loo_bound_)
    with pytest.warns(UserWarning, match="loo_estimate_ is NaN: .* samples were active"):
        assert np.isnan(est.loo_estimate_)
    # Past the limit the recorder stops keeping the estimate's per-step records.
    limited = dict(est.net_.callbacks_)["loo"]
    monkeypatch.undo()
    unlimited = IWLogisticRegression(optimizer=_iw(0.02), **_fixed(batch_size=16)).fit(X, y)
    recorder = dict(unlimited.net_.callbacks_)["loo"]
    assert limited.too_many_active_ and not recorder.too_many_active_
    kept, all_steps = limited.influence_.span.abs().sum(), recorder.influence_.span.abs().sum()
    assert float(kept) < 0.5 * float(all_steps)


def test_recorder_stops_the_estimate_records_within_the_epoch(monkeypatch):
    """The active samples are counted step by step: past the limit, the next steps of
    the same epoch compute no span self-influence."""
    from sklearn_iw.loo import _recorder

    X, y = _blobs(40, 2, 0)
    monkeypatch.setattr(_recorder, "MAX_ACTIVE_FOR_ESTIMATE", 3)
    calls = []
    span = _recorder.span_self_influence
    monkeypatch.setattr(
        _recorder, "span_self_influence", lambda *args: calls.append(args[1]) or span(*args)
    )
    IWLogisticRegression(optimizer=_iw(0.02), **_fixed(batch_size=16)).fit(X, y)
    # Each sample is visited once in the first epoch: the active samples of the steps
    # add up, and the spans stop after the step that passed the limit (the epoch has 3).
    active = [int((alpha > 0).sum()) for alpha in calls]
    assert sum(active[:-1]) <= 3 < sum(active)

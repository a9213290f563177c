"""The leave-one-out lemma by retraining, the bookkeeping of importance weights, and where
the bound is NaN."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone

from sklearn_iw.solvers import ImportanceWeights
from tests.iw_cases import (
    LOO_CASES,
    SLOW_LOO_CASES,
    blobs,
    iw,
    logistic,
    max_diff,
    mlp,
    weights,
)

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


def _check_loo_lemma(name, data, make):
    """Fit, retrain without every sample, and check the lemma and the bound.

    Returns the measured numbers (printed; quoted in the module docstring).
    """
    n, n_classes, seed = data
    X, y = blobs(n, n_classes, seed)
    est = make()
    assert n % est.batch_size != 1 and n > est.batch_size
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="loo_bound_")  # no reason to give it up
        est.fit(X, y)
        bound = est.loo_bound_
    support = np.zeros(n, dtype=bool)
    support[est.support_] = True
    assert 3 <= (~support).sum() and support.sum() >= 3, "support_ should be a strict subset"
    wrong = est.predict(X) != y
    scale = max(1.0, max(float(np.abs(w).max()) for w in weights(est)))

    loo_wrong = np.zeros(n, dtype=bool)
    diff = np.zeros(n)
    n_iter = np.zeros(n, dtype=int)
    same_memory = np.zeros(n, dtype=bool)
    for k in range(n):
        keep = np.arange(n) != k
        other = clone(est).fit(X[keep], y[keep])
        loo_wrong[k] = other.predict(X[k : k + 1])[0] != y[k]
        diff[k] = max_diff(other, est) / scale
        n_iter[k] = other.n_iter_
        # The per-sample memory of the other samples is unchanged too (indices shift by one).
        shifted = est.support_ - (est.support_ > k)
        same_memory[k] = np.array_equal(other.support_, shifted) and np.allclose(
            other.importance_weights_, est.importance_weights_[keep], rtol=0, atol=1e-8
        )

    # Runs without a never-active sample stop at another epoch only where the replayed
    # stopping rule says so; those samples are counted by the bound.
    moved = ~support & (n_iter != est.n_iter_)
    stable = ~support & ~moved
    # The lemma: removing a never-active sample changes no iterate.
    assert diff[stable].max() <= 1e-9, f"max relative weight change {diff[stable].max():.2e}"
    assert same_memory[stable].all(), np.flatnonzero(stable & ~same_memory)
    # ... and the test is not vacuous: removing active samples does change the weights.
    changed = diff[support] > 1e-6
    assert changed.mean() >= 0.5, f"only {changed.sum()} of {support.sum()} support samples"
    # The bound counts exactly the active, the misclassified and the unstable samples.
    assert round(bound * n) == (support | wrong | moved).sum()
    assert bound == est.loo_bound_curve_[-1]
    loo_error = loo_wrong.mean()
    assert loo_error <= bound
    numbers = dict(
        case=name,
        n=n,
        support=int(support.sum()),
        n_iter=est.n_iter_,
        moved=int(moved.sum()),
        bound=bound,
        loo_error=loo_error,
        diff_outside=float(diff[stable].max()),
        diff_support_min=float(diff[support].min()),
        diff_support_max=float(diff[support].max()),
    )
    print(
        f"\n[LOO {name}] |support| = {numbers['support']}/{n}, n_iter_ = {est.n_iter_}, "
        f"moved stopping epoch: {numbers['moved']}; loo_bound_ = {bound:.4f} vs brute-force "
        f"LOO error {loo_error:.4f}; max relative weight change without k: "
        f"{numbers['diff_outside']:.1e} (k not in support_), "
        f"{numbers['diff_support_min']:.1e}..{numbers['diff_support_max']:.1e} (k in support_)"
    )
    return numbers, est


@pytest.mark.parametrize("name", list(LOO_CASES))
def test_loo_lemma_by_retraining(name):
    data, make = LOO_CASES[name]
    numbers, est = _check_loo_lemma(name, data, make)
    if name == "mlp-loss-stop":
        # The loss criterion stopped training, and some never-active sample's removal moves
        # the stopping epoch (so the replayed stopping rule is exercised).
        assert est.n_iter_ < est.max_iter and numbers["moved"] >= 1
    else:
        assert est.n_iter_ == est.max_iter and numbers["moved"] == 0


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SLOW_LOO_CASES))
def test_loo_lemma_by_retraining_slow(name):
    data, make = SLOW_LOO_CASES[name]
    _, est = _check_loo_lemma(name, data, make)
    if name.endswith("loss-stop"):
        assert est.n_iter_ < est.max_iter


def test_tight_qp_tolerance_keeps_the_weights_finite():
    # The "mlp-60" LOO case at qp_tol=1e-12: the full fit runs, but 34 of its 60
    # leave-one-out refits (rows 0 and 4 among them) hit a NaN QP solution.
    X, y = blobs(60, 2, 0)
    spec = ImportanceWeights(p=0.02, C=10.0, qp_tol=1e-12)
    for k in (0, 4):
        keep = np.arange(60) != k
        est = mlp(optimizer=spec, batch_size=20, max_iter=15).fit(X[keep], y[keep])
        assert all(np.isfinite(w).all() for w in weights(est))


def test_loo_lemma_at_the_default_qp_tolerance():
    """With the spec's default qp_tol the lemma holds up to the QP's accuracy."""
    X, y = blobs(40, 2, 0)
    est = mlp(optimizer=ImportanceWeights(p=0.02, C=10.0)).fit(X, y)
    outside = np.setdiff1d(np.arange(40), est.support_)
    assert len(outside) >= 3
    scale = max(1.0, max(float(np.abs(w).max()) for w in weights(est)))
    for k in outside[:3]:
        keep = np.arange(40) != k
        other = clone(est).fit(X[keep], y[keep])
        assert max_diff(other, est) <= 1e-6 * scale
        np.testing.assert_array_equal(other.support_, est.support_ - (est.support_ > k))


def test_loo_lemma_survives_settings_that_keep_the_bound():
    """Per-sample and per-class weights (a dict), an epoch-driven schedule, update clipping
    and the decoupled decay do not couple samples: the lemma still holds."""
    X, y = blobs(40, 2, 1)
    sample_weight = np.where(np.arange(40) % 5 == 0, 0.5, 1.5)
    est = logistic(
        optimizer=iw(p=0.05, lr=0.8),
        class_weight={0: 1.0, 1: 2.0},
        lr_schedule="cosine",
        update_clip=0.3,
        alpha=0.01,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="loo_bound_")
        est.fit(X, y, sample_weight=sample_weight)
        assert np.isfinite(est.loo_bound_)
    outside = np.setdiff1d(np.arange(40), est.support_)
    assert len(outside) >= 3 and len(est.support_) >= 3
    scale = max(1.0, max(float(np.abs(w).max()) for w in weights(est)))
    diffs = {}
    for k in [*outside[:: max(1, len(outside) // 3)][:3], *est.support_[:2]]:
        keep = np.arange(40) != k
        other = clone(est).fit(X[keep], y[keep], sample_weight=sample_weight[keep])
        diffs[int(k)] = max_diff(other, est) / scale
    assert all(diffs[int(k)] <= 1e-9 for k in outside[:: max(1, len(outside) // 3)][:3]), diffs
    assert all(diffs[int(k)] > 1e-6 for k in est.support_[:2]), diffs


# =========================================================================== bookkeeping
def test_bookkeeping_of_importance_weights():
    n = 40
    X, y = blobs(n, 3, 0)
    sample_weight = np.ones(n)
    sample_weight[[2, 7]] = 0.0
    sample_weight[[5, 11, 23]] = 2.5
    sample_weight[[1, 30]] = 0.3
    C = 0.5
    est = mlp(optimizer=ImportanceWeights(p=0.1, C=C), max_iter=6)
    est.fit(X, y, sample_weight=sample_weight)
    optimizer = est.net_.optimizer_
    alpha = est.importance_weights_
    assert alpha.shape == (n,) and alpha.dtype == np.float64
    np.testing.assert_array_equal(alpha, optimizer.importance_weights.cpu().numpy())
    assert np.all(alpha >= 0.0) and np.all(alpha <= C * sample_weight)
    assert np.any(alpha == C * sample_weight) and np.any((alpha > 0) & (alpha < C))
    # support_: sorted indices of the ever-active memory; the last alpha > 0 implies active.
    support = est.support_
    np.testing.assert_array_equal(support, np.flatnonzero(optimizer.ever_active.cpu().numpy()))
    assert np.issubdtype(support.dtype, np.integer)
    assert np.all(np.diff(support) > 0) and support.min() >= 0 and support.max() < n
    assert set(np.flatnonzero(alpha > 0)) <= set(support.tolist())
    assert not {2, 7} & set(support.tolist())  # weight 0: C_i = 0, never active
    # loo_bound_curve_: one entry per epoch, in [0, 1], multiples of 1/n.
    curve = np.asarray(est.loo_bound_curve_)
    assert len(curve) == est.n_iter_ == 6
    assert np.all((curve >= 0) & (curve <= 1))
    assert_allclose(curve * n, np.round(curve * n), atol=1e-9)
    assert est.loo_bound_ == curve[-1]
    assert est.loo_bound_ >= len(support) / n
    # No early stop: the bound is (|A| + #{k not in A misclassified}) / n, recounted here.
    wrong = est.predict(X) != y
    assert round(est.loo_bound_ * n) == len(set(support.tolist()) | set(np.flatnonzero(wrong)))


def test_bookkeeping_across_partial_fit():
    X, y = blobs(40, 2, 0)
    est = logistic(optimizer=iw(p=0.05))
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="loo_bound_")
        est.partial_fit(X, y, classes=[0, 1])  # a first call is a fresh fit: bound valid
        first = est.loo_bound_
    assert np.isfinite(first) and len(est.loo_bound_curve_) == est.n_iter_ == 1
    support_before = set(est.support_.tolist())
    est.partial_fit(X, y)
    assert len(est.loo_bound_curve_) == est.n_iter_ == 2
    assert support_before <= set(est.support_.tolist())  # ever-active memory is kept
    with pytest.warns(UserWarning, match="loo_bound_ is NaN: training continued"):
        assert np.isnan(est.loo_bound_)


# =========================================================================== NaN bounds
NAN_CASES = {
    "dropout": (lambda: mlp(dropout=0.2), "dropout masks"),
    "early_stopping": (lambda: logistic(early_stopping=True), "early_stopping"),
    "class_weight": (lambda: logistic(class_weight="balanced"), "class_weight='balanced'"),
    "plateau": (lambda: logistic(lr_schedule="plateau"), "'plateau' schedule"),
    "batch_count": (lambda: logistic(batch_size=13), "changes the number of batches"),
}


@pytest.mark.parametrize("name", list(NAN_CASES))
def test_loo_bound_is_nan_with_a_warning(name):
    make, reason = NAN_CASES[name]
    X, y = blobs(40, 2, 0)  # 40 = 3 * 13 + 1: removing a sample drops a batch of 13
    est = make().set_params(optimizer=iw(p=0.05), max_iter=3).fit(X, y)
    # Warned where it is read (the fit itself may or may not say so).
    with pytest.warns(UserWarning, match=f"loo_bound_ is NaN: .*{reason}"):
        assert np.isnan(est.loo_bound_)
    # The weights themselves are still recorded.
    assert est.importance_weights_.shape == (len(est.net_.optimizer_.ever_active),)


def test_loo_bound_is_nan_after_warm_start():
    X, y = blobs(40, 2, 0)
    est = logistic(optimizer=iw(p=0.05), max_iter=3, warm_start=True).fit(X, y)
    assert np.isfinite(est.loo_bound_)
    est.fit(X, y)
    with pytest.warns(UserWarning, match="loo_bound_ is NaN: training continued"):
        assert np.isnan(est.loo_bound_)


def test_loo_bound_is_nan_for_another_optimizer():
    X, y = blobs(40, 2, 0)
    est = logistic(optimizer="adam", max_iter=3).fit(X, y)
    with pytest.warns(UserWarning, match="loo_bound_ is NaN: the optimizer is not"):
        assert np.isnan(est.loo_bound_)


@pytest.mark.parametrize("batch_size", [16, "full"])
def test_loo_bound_is_kept_where_nothing_breaks_it(batch_size):
    """Negative control for the NaN cases: a plain IW fit warns about nothing."""
    X, y = blobs(40, 2, 0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="loo_bound_")
        est = mlp(optimizer="importance_weights", batch_size=batch_size, max_iter=3).fit(X, y)
        assert 0.0 <= est.loo_bound_ <= 1.0


@pytest.mark.parametrize("name", ["mlp", "lstm"])
def test_loo_lemma_with_rows_on_demand(rows_on_demand, name):
    # Rows are computed in pieces that depend on what the solver reads, which differs
    # with and without a sample: the lemma must not notice.
    _check_loo_lemma(f"{name}, rows on demand", *LOO_CASES[name])

"""Importance-weights learning: the step, keyed batches and the leave-one-out bound.

References are independent of the code under test: per-sample gradients from a loop of
``torch.autograd.grad`` over batches of one (not the Gram fast path), the dual QP solved by
scipy's L-BFGS-B and checked through its KKT conditions, batch partitions recomputed as sets
of content keys, and the leave-one-out lemma checked by actually retraining without each
sample.

Measured leave-one-out numbers (CPU, float64, qp_tol=1e-10; printed by the tests with -s):
``loo_bound_`` vs the brute-force LOO error of n refits, |support_| / n, and the largest
weight change (relative to max |w|) on refitting without k, for k outside/inside support_.

    case (default run)         bound   LOO err  |A|/n   k not in A   k in A
    logistic, 2 classes        0.600   0.050    24/40   1.5e-13      2.7e-04 .. 4.0e-01
    mlp (3 tanh), 2 classes    0.700   0.050    28/40   2.6e-15      5.8e-04 .. 2.5e-01
    mlp, loss stop at epoch 16 0.775   0.025    29/40   8.3e-13      7.1e-06 .. 2.8e-01
      (2 never-active samples move the stopping epoch: counted by the bound, confirmed)
    case (slow)
    logistic, n=60             0.600   0.033    36/60   2.5e-13      1.9e-04 .. 1.6e-01
    logistic, 3 classes        0.800   0.083    48/60   2.2e-14      2.5e-04 .. 2.0e-01
    logistic hinge, 3 classes  0.433   0.150    26/60   1.6e-13      9.0e-05 .. 6.5e-01
    mlp, n=60                  0.617   0.033    37/60   1.6e-12      4.2e-04 .. 4.9e-01
    mlp, 3 classes             0.8125  0.104    39/48   6.0e-14      2.8e-04 .. 1.9e-01
    logistic, loss stop (27)   0.950   0.033    35/60   1.0e-13      1.2e-03 .. 1.5e-01
      (22 never-active samples move the stopping epoch)

With log_loss the support only stays a strict subset for small margins (p=0.02, C=10):
at p=0.1 every sample becomes active within 15 epochs (bound 1.0).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.optimize import minimize
from sklearn.base import clone
from torch import nn

from sklearn_iw import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier
from sklearn_iw.engine._data import TensorBatches, TensorData, content_keys, sample_keys
from sklearn_iw.engine._losses import ClassificationLoss
from sklearn_iw.solvers import ImportanceWeights, ImportanceWeightsOptimizer

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    ),
]


# =========================================================================== 1. the step
def _flat(tensors) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in tensors])


def _per_sample(module, criterion, X, y):
    """Per-sample losses and gradients, one batch of one at a time (the slow, plain way)."""
    params = list(module.parameters())
    losses, grads = [], []
    for i in range(len(X)):
        loss = criterion(module(X[i : i + 1]), y[i : i + 1])[0]
        losses.append(loss.detach())
        grads.append(_flat(torch.autograd.grad(loss, params)))
    return torch.stack(losses), torch.stack(grads)


def _step_problem(model: str, device: str):
    """A small float64 minibatch problem: module, criterion, X, y (B = 12)."""
    gen = torch.Generator().manual_seed(7)
    B = 12
    if model == "mlp":
        module = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))
        X = 1.5 * torch.randn(B, 4, generator=gen, dtype=torch.float64)
        y = torch.arange(B) % 3
        task = "multiclass"
    else:
        module = nn.Linear(3, 1)
        X = torch.randn(B, 3, generator=gen, dtype=torch.float64)
        y = (X[:, 0] + 0.8 * torch.randn(B, generator=gen, dtype=torch.float64) > 0).long()
        task = "binary"
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(0.8 * torch.randn(p.shape, generator=gen))
    module = module.to(device=device, dtype=torch.float64)
    return module, ClassificationLoss("log_loss", task), X.to(device), y.to(device)


def _dual(G: np.ndarray, p: np.ndarray, a: np.ndarray) -> float:
    return 0.5 * a @ G @ a - p @ a


def _scipy_dual(G: np.ndarray, p: np.ndarray, C: np.ndarray) -> np.ndarray:
    """The dual box QP by L-BFGS-B at tight tolerance (independent reference solver)."""
    result = minimize(
        lambda a: (_dual(G, p, a), G @ a - p),
        np.zeros_like(p),
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(np.zeros_like(C), C, strict=True)),
        options={"ftol": 1e-15, "gtol": 1e-13, "maxiter": 20_000, "maxcor": 30},
    )
    return result.x


# Weights of the 12 samples: one 0 (C_i = 0 pins alpha_i to 0), fractional and doubled ones.
STEP_WEIGHTS = [1.0, 0.0, 2.0, 1.0, 0.5, 1.0, 1.0, 2.0, 1.0, 0.25, 1.0, 1.0]

STEP_CASES = {
    "mlp-loss-capped": ("mlp", dict(p=0.6, C=0.4, margin="loss", loss_cap=1.0, lr=0.7)),
    "mlp-constant": ("mlp", dict(p=0.3, C=0.5, margin="constant", lr=1.3)),
    "logistic-loss": ("logistic", dict(p=0.5, C=2.0, margin="loss", loss_cap=4.0, lr=0.5)),
    "logistic-constant": ("logistic", dict(p=0.2, C=0.3, margin="constant", lr=1.0)),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(STEP_CASES))
def test_iw_step_solves_the_primal_and_dual(case, device):
    model, settings = STEP_CASES[case]
    module, criterion, X, y = _step_problem(model, device)
    spec = ImportanceWeights(qp_tol=1e-12, **settings)
    lr, C, p = spec.lr, spec.C, spec.p
    weight = torch.tensor(STEP_WEIGHTS, dtype=torch.float64, device=device)

    E, J = _per_sample(module, criterion, X, y)
    G = (J @ J.T).cpu().numpy()
    E_np, J_np = E.cpu().numpy(), J.cpu().numpy()
    if spec.margin == "loss":
        margins = p * np.minimum(E_np, spec.loss_cap)
        if spec.loss_cap < E_np.max():
            assert (E_np > spec.loss_cap).sum() >= 2, "the cap should bind for some samples"
    else:
        margins = np.full(len(E_np), p)
    bounds = C * np.array(STEP_WEIGHTS)

    optimizer = spec.build(module.parameters())
    assert isinstance(optimizer, ImportanceWeightsOptimizer)
    n_memory = 20
    optimizer.reset_samples(n_memory, torch.device(device), torch.float64)
    # The batch sits at scattered keys of the per-sample memory, which holds a warm start
    # (in the box) that must not change the optimum.
    index = torch.tensor([3, 17, 0, 9, 12, 5, 19, 1, 8, 14, 6, 11], device=device)
    gen = torch.Generator().manual_seed(1)
    warm = torch.rand(len(index), generator=gen, dtype=torch.float64).to(device) * C * weight
    optimizer.importance_weights[index] = warm
    before = _flat(module.parameters()).detach().clone()

    losses, records = optimizer.per_sample_step(module, criterion, X, y, weight, index)
    alpha = records["sample_alpha"]

    dw = (_flat(module.parameters()).detach() - before).cpu().numpy()
    a = alpha.cpu().numpy()
    assert alpha.device.type == torch.device(device).type and alpha.dtype == torch.float64
    assert_allclose(losses.cpu().numpy(), E_np, rtol=1e-13, atol=0)
    # The memory: last alpha, ever-active flags and last losses at the batch's keys only.
    others = np.setdiff1d(np.arange(n_memory), index.cpu().numpy())
    memory = optimizer.importance_weights.cpu().numpy()
    np.testing.assert_array_equal(memory[index.cpu().numpy()], a)
    np.testing.assert_array_equal(memory[others], 0.0)
    active = optimizer.ever_active.cpu().numpy()
    np.testing.assert_array_equal(active[index.cpu().numpy()], a > 0)
    assert not active[others].any()
    assert_allclose(optimizer.last_losses.cpu().numpy()[index.cpu().numpy()], E_np, rtol=1e-13)

    # Feasible, exactly on the bounds where it sits on them; weight 0 gives alpha 0.
    assert np.all(np.isfinite(a))
    assert np.all(a >= 0.0) and np.all(a <= bounds)
    assert a[np.array(STEP_WEIGHTS) == 0.0].tolist() == [0.0]

    # The step is -lr * sum_i alpha_i g_i.
    expected = -lr * (a @ J_np)
    scale = max(1.0, np.abs(expected).max())
    assert_allclose(dw, expected, rtol=0, atol=1e-10 * scale)

    # Dual optimality: no better point for an independent solver, and KKT directly.
    reference = _scipy_dual(G, margins, bounds)
    f_iw, f_ref = _dual(G, margins, a), _dual(G, margins, reference)
    f_scale = max(1.0, abs(f_ref))
    assert f_iw <= f_ref + 1e-12 * f_scale
    assert f_ref <= f_iw + 1e-7 * f_scale, "reference solver far from optimum"
    grad = G @ a - margins
    tol = 1e-9 * max(1.0, np.abs(margins).max())
    at_zero, at_cap = a == 0.0, (a == bounds) & (bounds > 0)
    inside = ~(at_zero | at_cap)
    assert np.all(grad[at_zero & (bounds > 0)] >= -tol)
    assert np.all(grad[at_cap & (bounds > 0)] <= tol)
    assert np.all(np.abs(grad[inside]) <= tol)

    # Primal: u = dw / lr, constraints <-g_i, u> >= p_i - xi_i with slack
    # xi_i = max(0, p_i - (G alpha)_i), complementary slackness and the norm identity.
    u = dw / lr
    decrease = -J_np @ u
    xi = np.maximum(0.0, margins - G @ a)
    assert np.all(decrease >= margins - xi - tol)
    assert np.all(np.abs(decrease - (margins - xi))[a > 0] <= tol)  # alpha > 0: active
    assert np.all(xi[a < bounds] <= tol)  # alpha < C_i: no slack
    assert_allclose(u @ u, a @ margins - bounds @ xi, rtol=1e-9, atol=1e-12)
    # Strong duality: primal objective equals minus the dual objective.
    assert_allclose(0.5 * u @ u + bounds @ xi, -f_iw, rtol=1e-9, atol=1e-12)
    print(
        f"\n[{case}/{device}] alpha: {int(at_zero.sum())} at 0, {int(at_cap.sum())} at C_i, "
        f"{int(inside.sum())} inside; f_iw - f_scipy = {f_iw - f_ref:.2e}"
    )


def test_iw_step_every_state_occurs():
    """The KKT checks above are not vacuous: over the cases, alphas sit at 0, at C_i and
    strictly inside, and the loss cap changes some margins."""
    seen = set()
    for model, settings in STEP_CASES.values():
        module, criterion, X, y = _step_problem(model, "cpu")
        weight = torch.tensor(STEP_WEIGHTS, dtype=torch.float64)
        optimizer = ImportanceWeights(qp_tol=1e-12, **settings).build(module.parameters())
        optimizer.reset_samples(len(X), torch.device("cpu"), torch.float64)
        step = optimizer.per_sample_step(module, criterion, X, y, weight, torch.arange(len(X)))
        alpha = step.records["sample_alpha"]
        bounds = settings["C"] * weight
        served = bounds > 0
        seen |= {"zero"} if bool((alpha[served] == 0).any()) else set()
        seen |= {"cap"} if bool((alpha[served] == bounds[served]).any()) else set()
        seen |= {"inside"} if bool(((alpha > 0) & (alpha < bounds)).any()) else set()
    assert seen == {"zero", "cap", "inside"}


def test_iw_step_step_rule_is_driven_by_per_sample_step():
    module, _, _, _ = _step_problem("logistic", "cpu")
    optimizer = ImportanceWeights().build(module.parameters())
    with pytest.raises(RuntimeError, match="per_sample_step"):
        optimizer.step()


# =========================================================================== 2. keyed batches
def _keyed_data(X: np.ndarray, y: np.ndarray):
    return TensorData(
        torch.as_tensor(X),
        torch.as_tensor(y),
        torch.ones(len(X), dtype=torch.float64),
        content_keys(X, y),
    )


def _partitions(X, y, batch_size, seed, n_epochs, check_rows=False):
    """The batches of each epoch, as a set of frozensets of content keys."""
    data = _keyed_data(X, y)
    batches = TensorBatches(data, batch_size, shuffle=True, seed=seed)
    epochs = []
    for _ in range(n_epochs):
        seen, partition = [], set()
        for xb, (yb, wb, index) in batches:
            idx = index.numpy()
            if check_rows:  # a batch carries the rows its indices name
                np.testing.assert_array_equal(xb.numpy(), X[idx])
                np.testing.assert_array_equal(yb.numpy(), y[idx])
                np.testing.assert_array_equal(wb.numpy(), np.ones(len(idx)))
            assert len(idx) > 0
            seen.extend(idx.tolist())
            partition.add(frozenset(data.key[idx].tolist()))
        # Every sample exactly once per epoch: the batches partition the data.
        assert sorted(seen) == list(range(len(X)))
        epochs.append(partition)
    return epochs


@pytest.fixture(scope="module")
def keyed_sample():
    rng = np.random.RandomState(3)
    X = rng.randn(50, 3)
    y = rng.randint(0, 3, size=50)
    return X, y


def test_content_keys_follow_content_not_position(keyed_sample):
    X, y = keyed_sample
    keys = content_keys(X, y)
    assert keys.dtype == np.uint64 and len(np.unique(keys)) == len(X)
    perm = np.random.RandomState(0).permutation(len(X))
    np.testing.assert_array_equal(content_keys(X[perm], y[perm]), keys[perm])
    keep = np.arange(len(X)) != 17
    np.testing.assert_array_equal(content_keys(X[keep], y[keep]), keys[keep])
    # The label and every feature bit are part of the key; equal rows get equal keys.
    y2 = y.copy()
    y2[4] = (y2[4] + 1) % 3
    changed = content_keys(X, y2) != keys
    assert changed.tolist() == [i == 4 for i in range(len(X))]
    X2 = X.copy()
    X2[9, 2] = np.nextafter(X2[9, 2], np.inf)
    assert (content_keys(X2, y) != keys).tolist() == [i == 9 for i in range(len(X))]
    twice = content_keys(np.vstack([X, X[:3]]), np.r_[y, y[:3]])
    np.testing.assert_array_equal(twice[-3:], keys[:3])


def test_sample_keys_tell_copies_apart_and_name_the_last_as_stand_in(keyed_sample):
    X, y = keyed_sample
    copies = np.r_[0:50, 3, 7, 3, 3]  # row 3 four times, row 7 twice
    Xc, yc = X[copies], y[copies]
    keys, stand_in = sample_keys(Xc, yc)
    content = content_keys(Xc, yc)
    assert len(np.unique(keys)) == len(Xc)  # every copy its own batch key
    first = np.r_[np.ones(50, dtype=bool), False, False, False, False]
    np.testing.assert_array_equal(keys[first], content[first])  # first copies: content key
    expected = np.arange(len(Xc))
    expected[[3, 50, 52]] = 53
    expected[7] = 51
    np.testing.assert_array_equal(stand_in, expected)
    # Deleting any copy leaves the keys of the full data without the last copy.
    for k in (3, 50, 52, 53, 7, 51):
        keep = np.arange(len(Xc)) != k
        reduced, _ = sample_keys(Xc[keep], yc[keep])
        # (Copies are interchangeable: the keys match as a set, not position by position.)
        assert sorted(reduced.tolist()) == sorted(np.delete(keys, stand_in[k]).tolist())
    # The weight is part of a sample's content: unequal weights make unequal samples.
    weighted, stand_in_w = sample_keys(Xc, yc, np.r_[np.ones(53), 2.0])
    assert stand_in_w[53] == 53 and stand_in_w[3] == 52
    assert weighted[53] != keys[53]


def test_copies_of_a_row_spread_over_the_batches():
    """Equal samples in one batch would make each step fit a few rows (tables with
    categorical features): copies are spread like distinct samples."""
    rng = np.random.RandomState(0)
    X = np.repeat(rng.randn(4, 2), 50, axis=0)
    y = np.repeat([0, 1, 0, 1], 50)
    keys, _ = sample_keys(X, y)
    data = TensorData(torch.as_tensor(X), torch.as_tensor(y), torch.ones(200), keys)
    for _, (_, _, index) in TensorBatches(data, 20, shuffle=True, seed=0):
        rows = np.unique(X[index.numpy()], axis=0)
        assert len(rows) >= 3, "a batch should hold most of the four distinct rows"


def test_keyed_batches_survive_deleting_any_sample(keyed_sample):
    X, y = keyed_sample
    batch_size, n_epochs = 8, 4  # 50 and 49 samples both make 7 batches
    assert -(-len(X) // batch_size) == -(-(len(X) - 1) // batch_size)
    full = _partitions(X, y, batch_size, seed=11, n_epochs=n_epochs, check_rows=True)
    keys = content_keys(X, y)
    # A new partition each epoch, and a different one for another seed.
    assert len({frozenset(p) for p in full}) == n_epochs
    assert _partitions(X, y, batch_size, seed=12, n_epochs=1)[0] != full[0]
    assert len({len(b) for p in full for b in p}) > 1  # hashed buckets: sizes vary around 8
    for k in range(len(X)):
        keep = np.arange(len(X)) != k
        reduced = _partitions(X[keep], y[keep], batch_size, seed=11, n_epochs=n_epochs)
        for epoch in range(n_epochs):
            expected = {b - {keys[k]} for b in full[epoch]} - {frozenset()}
            assert reduced[epoch] == expected, (k, epoch)


def test_keyed_batches_continue_with_new_epochs(keyed_sample):
    """``first_epoch`` resumes the sequence of partitions (continued fits)."""
    X, y = keyed_sample
    data = _keyed_data(X, y)
    run = [
        {
            frozenset(data.key[i.numpy()].tolist())
            for _, (_, _, i) in TensorBatches(data, 8, shuffle=True, seed=5, first_epoch=e)
        }
        for e in range(3)
    ]
    batches = TensorBatches(data, 8, shuffle=True, seed=5)
    for epoch in range(3):
        assert {frozenset(data.key[i.numpy()].tolist()) for _, (_, _, i) in batches} == run[epoch]


# =========================================================================== 3. the LOO lemma
def _blobs(n: int, n_classes: int, seed: int, sep: float = 2.0):
    """Gaussian blobs (unit spread) on a circle of radius ``sep``: some overlap; scaled."""
    rng = np.random.RandomState(seed)
    angle = 2 * np.pi * np.arange(n_classes) / n_classes
    centers = sep * np.c_[np.cos(angle), np.sin(angle)]
    y = np.arange(n) % n_classes
    X = centers[y] + rng.randn(n, 2)
    return (X - X.mean(0)) / X.std(0), y


def _weights(est) -> list[np.ndarray]:
    if hasattr(est, "coef_"):
        return [est.coef_, est.intercept_]
    if hasattr(est, "coefs_"):
        return [*est.coefs_, *est.intercepts_]
    return [p.detach().cpu().numpy() for p in est.net_.module_.parameters()]


def _max_diff(a, b) -> float:
    return max(float(np.abs(u - v).max()) for u, v in zip(_weights(a), _weights(b), strict=True))


def _iw(p: float, **kwargs) -> ImportanceWeights:
    # qp_tol below the default: a QP stopped at relative gap t may move the step by ~t, so
    # two runs need only agree to ~t (one solver version gave 9e-8 at the default 1e-8 and
    # 9e-10 at 1e-10; the current one gives < 1e-11 at both). 1e-12 hits the NaN bug below.
    return ImportanceWeights(p=p, C=10.0, margin="loss", qp_tol=1e-10, **kwargs)


def _logistic(**kwargs):
    params = dict(batch_size=16, max_iter=12, n_iter_no_change=1000, random_state=0)
    params.update(kwargs)
    return IWLogisticRegression(device="cpu", **params)


def _mlp(**kwargs):
    params = dict(batch_size=16, max_iter=12, n_iter_no_change=1000, random_state=0)
    params.update(kwargs)
    return IWMLPClassifier(hidden_layer_sizes=(3,), activation="tanh", device="cpu", **params)


def _lstm(**kwargs):
    # forget_bias=1 (the former default): with 4.5 every sample of these two-step
    # sequences stays active, and the lemma needs some that never are.
    params = dict(batch_size=16, max_iter=12, n_iter_no_change=1000, random_state=0)
    params["forget_bias"] = 1.0
    params.update(kwargs)
    return IWLSTMClassifier(hidden_size=3, device="cpu", **params)


# name: (data: n, n_classes, seed), estimator. Batches of 16 (n % 16 != 1: removing a sample
# keeps the number of batches); stopping by max_iter unless n_iter_no_change is small.
LOO_CASES = {
    "logistic": ((40, 2, 0), lambda: _logistic(optimizer=_iw(p=0.02))),
    "mlp": ((40, 2, 0), lambda: _mlp(optimizer=_iw(p=0.02))),
    # The blobs' two features read as sequences of two steps: the Gram through time.
    "lstm": ((40, 2, 0), lambda: _lstm(optimizer=_iw(p=0.01))),
    "mlp-loss-stop": (
        (40, 2, 2),
        lambda: _mlp(optimizer=_iw(p=0.05), max_iter=20, n_iter_no_change=2, tol=0.02),
    ),
}
SLOW_LOO_CASES = {
    "logistic-60": ((60, 2, 0), lambda: _logistic(optimizer=_iw(p=0.02), max_iter=15)),
    "logistic-3-classes": ((60, 3, 1), lambda: _logistic(optimizer=_iw(p=0.02), max_iter=15)),
    "logistic-hinge-3-classes": (
        (60, 3, 0),
        lambda: _logistic(loss="hinge", optimizer=_iw(p=0.1), batch_size=20, max_iter=15),
    ),
    "mlp-60": ((60, 2, 0), lambda: _mlp(optimizer=_iw(p=0.02), batch_size=20, max_iter=15)),
    "mlp-3-classes": ((48, 3, 0), lambda: _mlp(optimizer=_iw(p=0.02), max_iter=15)),
    "logistic-loss-stop": (
        (60, 2, 0),
        lambda: _logistic(
            optimizer=_iw(p=0.02), batch_size=20, max_iter=30, n_iter_no_change=2, tol=3e-3
        ),
    ),
}


def _check_loo_lemma(name, data, make):
    """Fit, retrain without every sample, and check the lemma and the bound.

    Returns the measured numbers (printed; quoted in the module docstring).
    """
    n, n_classes, seed = data
    X, y = _blobs(n, n_classes, seed)
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
    scale = max(1.0, max(float(np.abs(w).max()) for w in _weights(est)))

    loo_wrong = np.zeros(n, dtype=bool)
    diff = np.zeros(n)
    n_iter = np.zeros(n, dtype=int)
    same_memory = np.zeros(n, dtype=bool)
    for k in range(n):
        keep = np.arange(n) != k
        other = clone(est).fit(X[keep], y[keep])
        loo_wrong[k] = other.predict(X[k : k + 1])[0] != y[k]
        diff[k] = _max_diff(other, est) / scale
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
    X, y = _blobs(60, 2, 0)
    spec = ImportanceWeights(p=0.02, C=10.0, qp_tol=1e-12)
    for k in (0, 4):
        keep = np.arange(60) != k
        est = _mlp(optimizer=spec, batch_size=20, max_iter=15).fit(X[keep], y[keep])
        assert all(np.isfinite(w).all() for w in _weights(est))


def test_loo_lemma_at_the_default_qp_tolerance():
    """With the spec's default qp_tol the lemma holds up to the QP's accuracy."""
    X, y = _blobs(40, 2, 0)
    est = _mlp(optimizer=ImportanceWeights(p=0.02, C=10.0)).fit(X, y)
    outside = np.setdiff1d(np.arange(40), est.support_)
    assert len(outside) >= 3
    scale = max(1.0, max(float(np.abs(w).max()) for w in _weights(est)))
    for k in outside[:3]:
        keep = np.arange(40) != k
        other = clone(est).fit(X[keep], y[keep])
        assert _max_diff(other, est) <= 1e-6 * scale
        np.testing.assert_array_equal(other.support_, est.support_ - (est.support_ > k))


def test_loo_lemma_survives_settings_that_keep_the_bound():
    """Per-sample and per-class weights (a dict), an epoch-driven schedule, update clipping
    and the decoupled decay do not couple samples: the lemma still holds."""
    X, y = _blobs(40, 2, 1)
    sample_weight = np.where(np.arange(40) % 5 == 0, 0.5, 1.5)
    est = _logistic(
        optimizer=_iw(p=0.05, lr=0.8),
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
    scale = max(1.0, max(float(np.abs(w).max()) for w in _weights(est)))
    diffs = {}
    for k in [*outside[:: max(1, len(outside) // 3)][:3], *est.support_[:2]]:
        keep = np.arange(40) != k
        other = clone(est).fit(X[keep], y[keep], sample_weight=sample_weight[keep])
        diffs[int(k)] = _max_diff(other, est) / scale
    assert all(diffs[int(k)] <= 1e-9 for k in outside[:: max(1, len(outside) // 3)][:3]), diffs
    assert all(diffs[int(k)] > 1e-6 for k in est.support_[:2]), diffs


# =========================================================================== 4. bookkeeping
def test_bookkeeping_of_importance_weights():
    n = 40
    X, y = _blobs(n, 3, 0)
    sample_weight = np.ones(n)
    sample_weight[[2, 7]] = 0.0
    sample_weight[[5, 11, 23]] = 2.5
    sample_weight[[1, 30]] = 0.3
    C = 0.5
    est = _mlp(optimizer=ImportanceWeights(p=0.1, C=C), max_iter=6)
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
    X, y = _blobs(40, 2, 0)
    est = _logistic(optimizer=_iw(p=0.05))
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


# =========================================================================== 5. NaN bounds
NAN_CASES = {
    "dropout": (lambda: _mlp(dropout=0.2), "dropout masks"),
    "early_stopping": (lambda: _logistic(early_stopping=True), "early_stopping"),
    "class_weight": (lambda: _logistic(class_weight="balanced"), "class_weight='balanced'"),
    "plateau": (lambda: _logistic(lr_schedule="plateau"), "'plateau' schedule"),
    "batch_count": (lambda: _logistic(batch_size=13), "changes the number of batches"),
}


@pytest.mark.parametrize("name", list(NAN_CASES))
def test_loo_bound_is_nan_with_a_warning(name):
    make, reason = NAN_CASES[name]
    X, y = _blobs(40, 2, 0)  # 40 = 3 * 13 + 1: removing a sample drops a batch of 13
    est = make().set_params(optimizer=_iw(p=0.05), max_iter=3).fit(X, y)
    # Warned where it is read (the fit itself may or may not say so).
    with pytest.warns(UserWarning, match=f"loo_bound_ is NaN: .*{reason}"):
        assert np.isnan(est.loo_bound_)
    # The weights themselves are still recorded.
    assert est.importance_weights_.shape == (len(est.net_.optimizer_.ever_active),)


def test_loo_bound_is_nan_after_warm_start():
    X, y = _blobs(40, 2, 0)
    est = _logistic(optimizer=_iw(p=0.05), max_iter=3, warm_start=True).fit(X, y)
    assert np.isfinite(est.loo_bound_)
    est.fit(X, y)
    with pytest.warns(UserWarning, match="loo_bound_ is NaN: training continued"):
        assert np.isnan(est.loo_bound_)


def test_loo_bound_is_nan_for_another_optimizer():
    X, y = _blobs(40, 2, 0)
    est = _logistic(optimizer="adam", max_iter=3).fit(X, y)
    with pytest.warns(UserWarning, match="loo_bound_ is NaN: the optimizer is not"):
        assert np.isnan(est.loo_bound_)


@pytest.mark.parametrize("batch_size", [16, "full"])
def test_loo_bound_is_kept_where_nothing_breaks_it(batch_size):
    """Negative control for the NaN cases: a plain IW fit warns about nothing."""
    X, y = _blobs(40, 2, 0)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message="loo_bound_")
        est = _mlp(optimizer="importance_weights", batch_size=batch_size, max_iter=3).fit(X, y)
        assert 0.0 <= est.loo_bound_ <= 1.0


def test_batch_norm_with_importance_weights_raises():
    X, y = _blobs(40, 2, 0)
    est = _mlp(batch_norm=True, optimizer="importance_weights", max_iter=2)
    with pytest.raises(ValueError, match="BatchNorm"):
        est.fit(X, y)


# =========================================================================== 6. sample weights
def _full_batch(model: str, **spec):
    make = _logistic if model == "logistic" else _mlp
    optimizer = ImportanceWeights(p=0.3, C=0.2, qp_tol=1e-12, **spec)
    return make(optimizer=optimizer, batch_size="full", max_iter=8)


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_integer_sample_weight_equals_duplicated_rows(model):
    """C_i = C * w_i: two copies of a sample with bound C act as one with bound 2 C."""
    X, y = _blobs(30, 2, 0)
    doubled = np.array([1, 4, 8, 15, 22, 27])
    sample_weight = np.ones(len(X))
    sample_weight[doubled] = 2.0
    weighted = _full_batch(model).fit(X, y, sample_weight=sample_weight)
    duplicated = _full_batch(model).fit(np.vstack([X, X[doubled]]), np.r_[y, y[doubled]])
    unweighted = _full_batch(model).fit(X, y)
    scale = max(1.0, max(float(np.abs(w).max()) for w in _weights(weighted)))
    assert _max_diff(weighted, duplicated) <= 1e-9 * scale
    # Not vacuous: the weights matter (some alpha sits at its bound C_i).
    assert _max_diff(weighted, unweighted) > 1e-4 * scale
    assert np.any(weighted.importance_weights_ == 0.2 * sample_weight)
    assert weighted.n_iter_ == duplicated.n_iter_


@pytest.mark.parametrize("model", ["logistic", "mlp"])
def test_uniform_sample_weight_scales_C(model):
    X, y = _blobs(30, 3, 0)
    scaled = _full_batch(model).fit(X, y, sample_weight=np.full(len(X), 2.5))
    reference = _logistic if model == "logistic" else _mlp
    spec = ImportanceWeights(p=0.3, C=0.5, qp_tol=1e-12)
    plain = reference(optimizer=spec, batch_size="full", max_iter=8).fit(X, y)
    assert _max_diff(scaled, plain) <= 1e-9
    assert_allclose(scaled.importance_weights_, plain.importance_weights_, rtol=0, atol=1e-9)


# =========================================================================== 7. device
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_iw_fit_on_cuda_matches_cpu():
    """float64 on the GPU: same support, bound and weights as on the CPU."""
    X, y = _blobs(40, 2, 0)
    cpu = _mlp(optimizer=_iw(p=0.02)).fit(X, y)
    gpu = clone(cpu).set_params(device="cuda").fit(X, y)
    assert next(gpu.net_.module_.parameters()).device.type == "cuda"
    scale = max(1.0, max(float(np.abs(w).max()) for w in _weights(cpu)))
    assert _max_diff(gpu, cpu) <= 1e-8 * scale
    np.testing.assert_array_equal(gpu.support_, cpu.support_)
    # Same count; the CUDA mean rounds count / n differently (0.7000000000000001 vs 0.7).
    assert round(gpu.loo_bound_ * 40) == round(cpu.loo_bound_ * 40)
    assert gpu.loo_bound_ == pytest.approx(cpu.loo_bound_, rel=1e-15, abs=0)


@pytest.fixture
def rows_on_demand(monkeypatch):
    """Importance-weights steps take the Gram matrix as rows on demand at any batch size."""
    monkeypatch.setattr("sklearn_iw.optim.iw._importance_weights.LAZY_GRAM_MIN_BATCH", 1)


@pytest.mark.parametrize("name", ["mlp-3-classes", "lstm"])
def test_rows_on_demand_train_the_same_model(rows_on_demand, monkeypatch, name):
    (n, n_classes, seed), make = {**LOO_CASES, **SLOW_LOO_CASES}[name]
    X, y = _blobs(n, n_classes, seed)
    lazy = make().fit(X, y)
    monkeypatch.setattr("sklearn_iw.optim.iw._importance_weights.LAZY_GRAM_MIN_BATCH", 10**9)
    whole = make().fit(X, y)
    assert _max_diff(lazy, whole) <= 1e-10
    np.testing.assert_array_equal(lazy.support_, whole.support_)
    assert_allclose(lazy.importance_weights_, whole.importance_weights_, rtol=0, atol=1e-10)


@pytest.mark.parametrize("name", ["mlp", "lstm"])
def test_loo_lemma_with_rows_on_demand(rows_on_demand, name):
    # Rows are computed in pieces that depend on what the solver reads, which differs
    # with and without a sample: the lemma must not notice.
    _check_loo_lemma(f"{name}, rows on demand", *LOO_CASES[name])


def _overshooting_batch():
    """A logistic model on a batch of overlapping classes where ``C=1`` lets the
    importance weights sum to far more than the loss's curvature allows."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(200, 5, generator=gen, dtype=torch.float64) * 3.0
    y = (torch.rand(200, generator=gen, dtype=torch.float64) < 0.5).double()
    module = nn.Linear(5, 1).double()
    nn.init.zeros_(module.weight)
    nn.init.zeros_(module.bias)

    def criterion(output, target):
        return nn.functional.binary_cross_entropy_with_logits(
            output.squeeze(1), target, reduction="none"
        )

    return module, criterion, X, y


@pytest.mark.parametrize("sufficient_decrease", [0.1, 0.5])
def test_step_check_halves_until_the_weighted_loss_falls(sufficient_decrease):
    """The step taken is the QP's direction scaled by a power of 1/2, the largest whose
    decrease of sum_i a_i E_i is at least c times its first-order prediction; the scale
    kept is where the next step starts."""
    module, criterion, X, y = _overshooting_batch()
    unchecked = nn.Linear(5, 1).double()
    unchecked.load_state_dict(module.state_dict())
    weight, index = torch.ones(200, dtype=torch.float64), torch.arange(200)

    def one_step(net, c):
        optimizer = ImportanceWeights(sufficient_decrease=c).build(net.parameters())
        optimizer.reset_samples(200, torch.device("cpu"), torch.float64)
        before = torch.cat([p.detach().flatten().clone() for p in net.parameters()])
        step = optimizer.per_sample_step(net, criterion, X, y, weight, index)
        after = torch.cat([p.detach().flatten() for p in net.parameters()])
        return optimizer, step, after - before

    optimizer, step, update = one_step(module, sufficient_decrease)
    _, full_step, full_update = one_step(unchecked, 0.0)
    alpha = step.records["sample_alpha"]
    assert torch.equal(alpha, full_step.records["sample_alpha"])  # same QP
    scale = optimizer.param_groups[0]["step_scale"]
    k = -math.log2(scale)
    assert scale < 1 and k == round(k), "the batch overshoots: the step must be halved"
    assert_allclose(update.numpy(), scale * full_update.numpy(), rtol=1e-10, atol=1e-14)

    def weighted_loss(delta):
        probe = nn.Linear(5, 1).double().requires_grad_(False)
        probe.weight.copy_(delta[:5].reshape(1, 5))
        probe.bias.copy_(delta[5:])
        return float(alpha.dot(criterion(probe(X), y)))

    start = torch.zeros(6, dtype=torch.float64)
    predicted = float(full_update.square().sum())  # lr * ||sum a_i g_i||^2 with lr = 1
    for s, should_pass in [(scale, True), (2 * scale, False)]:
        decrease = weighted_loss(start) - weighted_loss(s * full_update)
        assert (decrease >= sufficient_decrease * s * predicted) is should_pass
    assert optimizer.last_step.lr == scale


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


@pytest.mark.parametrize("alpha", [0.5, 3.0, 30.0])
def test_decoupled_decay_shrinks_for_any_alpha(alpha):
    """The decay is the penalty's proximal step ``W / (1 + lr alpha)``: a large ``alpha``
    shrinks the weights towards zero; ``(1 - lr alpha) W`` flipped and grew them past
    ``lr alpha = 2`` (a regressor's coefficients reached 7e6 at alpha=10)."""
    from sklearn.datasets import make_regression

    from sklearn_iw import IWLinearRegression

    X, y = make_regression(60, 5, noise=5.0, random_state=0)
    y = (y - y.mean()) / y.std()
    model = IWLinearRegression(alpha=alpha, max_iter=30, random_state=0).fit(X, y)
    weak = IWLinearRegression(alpha=1e-4, max_iter=30, random_state=0).fit(X, y)
    assert np.all(np.isfinite(model.coef_))
    assert np.abs(model.coef_).max() < np.abs(weak.coef_).max()

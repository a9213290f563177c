"""The importance-weights step: primal and dual of its QP, its states, the step check, decay."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from scipy.optimize import minimize
from sklearn.base import clone
from torch import nn

from sklearn_iw.engine._losses import ClassificationLoss
from sklearn_iw.solvers import ImportanceWeights, ImportanceWeightsOptimizer
from tests.iw_cases import LOO_CASES, SLOW_LOO_CASES, blobs, iw, max_diff, mlp, weights

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA"),
    ),
]


# =========================================================================== the step
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
    "mlp-loss-uncapped": ("mlp", dict(p=0.6, C=0.4, margin="loss", loss_cap=None, lr=0.7)),
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
    if spec.margin == "loss" and spec.loss_cap is None:
        margins = p * E_np
    elif spec.margin == "loss":
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

    step = optimizer.per_sample_step(module, criterion, X, y, weight, index)
    losses, alpha = step.losses, step.records["sample_alpha"]

    dw = (_flat(module.parameters()).detach() - before).cpu().numpy()
    a = alpha.cpu().numpy()
    assert alpha.device.type == torch.device(device).type and alpha.dtype == torch.float64
    assert_allclose(losses.cpu().numpy(), E_np, rtol=1e-13, atol=0)
    # The memory: last alpha and ever-active flags at the batch's keys only.
    others = np.setdiff1d(np.arange(n_memory), index.cpu().numpy())
    memory = optimizer.importance_weights.cpu().numpy()
    np.testing.assert_array_equal(memory[index.cpu().numpy()], a)
    np.testing.assert_array_equal(memory[others], 0.0)
    active = optimizer.ever_active.cpu().numpy()
    np.testing.assert_array_equal(active[index.cpu().numpy()], a > 0)
    assert not active[others].any()
    # The record: the weights as the activity, the step's Gram, bounds and factor.
    assert torch.equal(step.activity, alpha) and step.lr == spec.lr
    assert_allclose(
        step.gram.full().cpu().numpy() if hasattr(step.gram, "full") else step.gram.cpu().numpy(),
        G,
        rtol=1e-10,
        atol=1e-12,
    )
    assert_allclose(step.bounds.cpu().numpy(), bounds, rtol=1e-15)

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


# =========================================================================== device
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_iw_fit_on_cuda_matches_cpu():
    """float64 on the GPU: same support, bound and weights as on the CPU."""
    X, y = blobs(40, 2, 0)
    cpu = mlp(optimizer=iw(p=0.02)).fit(X, y)
    gpu = clone(cpu).set_params(device="cuda").fit(X, y)
    assert next(gpu.net_.module_.parameters()).device.type == "cuda"
    scale = max(1.0, max(float(np.abs(w).max()) for w in weights(cpu)))
    assert max_diff(gpu, cpu) <= 1e-8 * scale
    np.testing.assert_array_equal(gpu.support_, cpu.support_)
    # Same count; the CUDA mean rounds count / n differently (0.7000000000000001 vs 0.7).
    assert round(gpu.loo_bound_ * 40) == round(cpu.loo_bound_ * 40)
    assert gpu.loo_bound_ == pytest.approx(cpu.loo_bound_, rel=1e-15, abs=0)


@pytest.mark.parametrize("name", ["mlp-3-classes", "lstm"])
def test_rows_on_demand_train_the_same_model(rows_on_demand, monkeypatch, name):
    (n, n_classes, seed), make = {**LOO_CASES, **SLOW_LOO_CASES}[name]
    X, y = blobs(n, n_classes, seed)
    lazy = make().fit(X, y)
    monkeypatch.setattr("sklearn_iw.optim.iw._importance_weights.LAZY_GRAM_MIN_BATCH", 10**9)
    whole = make().fit(X, y)
    assert max_diff(lazy, whole) <= 1e-10
    np.testing.assert_array_equal(lazy.support_, whole.support_)
    assert_allclose(lazy.importance_weights_, whole.importance_weights_, rtol=0, atol=1e-10)


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
    assert step.lr == scale


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

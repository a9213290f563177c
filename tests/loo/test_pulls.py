"""The estimate's pull vectors and its jackknife, against independent references.

Each active sample's pull vector ``v_k = sum_t lr a_k g_k(t)`` is checked against per-sample
gradients taken by ``torch.func`` at the weights recorded before every step, and the
jackknife's sample-space (Woodbury) solve ``d_k^T H_-k^-1 v_k`` against a direct solve
with the parameter-space matrix ``H``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback
from torch.func import functional_call, grad, jacrev, vmap

from sklearn_iw import IWMLPClassifier
from sklearn_iw.loo import _influence
from sklearn_iw.solvers import ImportanceWeights, per_sample_gram

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


class StepLog(Callback):
    """The weights before each training step, and the step's samples, weights and factor."""

    def initialize(self):
        self.steps = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if training:
            weights = {k: v.detach().clone() for k, v in net.module_.named_parameters()}
            self.steps.append([weights])

    def on_batch_end(self, net, batch=None, training=False, per_sample_step=None, **kwargs):
        if training:
            step = per_sample_step
            self.steps[-1] += [batch[1][2].clone(), step.activity.clone(), float(step.lr)]


def _fit(batch_size, **params):
    X, y = make_classification(90, n_features=5, n_informative=3, flip_y=0.1, random_state=0)
    X = StandardScaler().fit_transform(X)
    est = IWMLPClassifier(
        (6,),
        optimizer=ImportanceWeights(p=0.3),
        batch_size=batch_size,
        max_iter=8,
        n_iter_no_change=8,
        callbacks=[("steps", StepLog())],
        random_state=0,
        device="cpu",
        **params,
    ).fit(X, y)
    return est, dict(est.net_.callbacks_)["steps"]  # the fitted clone


def _flat_parameters(module):
    return [name for name, p in module.named_parameters() if p.requires_grad]


@pytest.mark.parametrize("batch_size", [16, "full"])
def test_pull_vectors_sum_each_steps_own_gradient(batch_size):
    est, log = _fit(batch_size)
    net = est.net_
    inputs, _, _ = est._loo_record.pending
    module, loss, X, y, accumulator = inputs
    names = _flat_parameters(module)

    def sample_loss(weights, x, t):
        return loss(functional_call(module, weights, (x[None],)), t[None])[0]

    reference = torch.zeros(len(X), sum(dict(module.named_parameters())[n].numel() for n in names))
    for weights, index, alpha, lr in log.steps:
        grads = vmap(grad(sample_loss), in_dims=(None, 0, 0))(weights, X[index], y[index])
        flat = torch.cat([grads[name].flatten(1) for name in names], dim=1)
        reference.index_add_(0, index, (lr * alpha[:, None] * flat).float())
    assert accumulator.has_pull_vectors
    assert len(log.steps) == net.history[-1, "epoch"] * (1 if batch_size == "full" else 6)
    np.testing.assert_allclose(accumulator.pull_vectors, reference, rtol=1e-4, atol=1e-6)
    never = ~accumulator.ever_active
    assert bool((accumulator.pull_vectors[never] == 0).all())


def test_jackknife_equals_a_parameter_space_solve():
    est, _ = _fit(16)
    inputs, _, _ = est._loo_record.pending
    module, loss, X, y, accumulator = inputs
    drop = _influence.loo_margins(*inputs).jackknife.double()

    active = torch.nonzero(accumulator.ever_active).flatten()
    names = _flat_parameters(module)
    weights = {k: v.detach() for k, v in module.named_parameters()}
    with torch.no_grad():
        output = module(X)[:, 0]
    # Binary log loss: the loss gradient's direction in output space is -1 for class 1.
    sign = 1.0 - 2.0 * y.double()

    def output_of(w, x):
        return functional_call(module, w, (x[None],))[0, 0]

    jac = vmap(jacrev(output_of), in_dims=(None, 0))(weights, X[active])
    D = sign[active, None] * torch.cat([jac[n].flatten(1) for n in names], dim=1).double()
    Q = accumulator.curvature_pull[active].double()
    V = accumulator.pull_vectors[active].double()
    H = torch.eye(D.shape[1], dtype=torch.float64) + D.T @ (Q[:, None] * D)
    for row, k in enumerate(active.tolist()):
        d = D[row]
        H_without = H - Q[row] * torch.outer(d, d)
        expected = max(float(d @ torch.linalg.solve(H_without, V[row])), 0.0)
        assert float(drop[k]) == pytest.approx(expected, rel=1e-6, abs=1e-9)
    assert bool((drop[~accumulator.ever_active] == 0).all())
    assert output.shape == (len(X),)


def test_pull_vectors_give_way_to_pull_sizes_beyond_their_budget(monkeypatch):
    monkeypatch.setattr(_influence, "MAX_PULL_ENTRIES", 10)
    est, _ = _fit(16)
    accumulator = est._loo_record.pending[0][-1]
    assert not accumulator.has_pull_vectors and accumulator.pull_vectors is None
    # The segments of the run align the pull sizes instead: epochs 0, 1, 2 and 4.
    assert len(accumulator.segments) == 4
    assert np.isfinite(est.loo_estimate_)


@pytest.mark.parametrize("samples", [[], [0, 3, 4]])
def test_weighted_gradients_added_from_the_layer_factors(samples):
    torch.manual_seed(0)
    # The first layer's gradients stay factored, the single output's are materialised.
    module = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1))
    X, y = torch.randn(6, 3), torch.tensor([0.0, 1, 1, 0, 1, 0])

    def per_sample_loss(output, target):
        return torch.nn.functional.binary_cross_entropy_with_logits(
            output[:, 0], target, reduction="none"
        )

    gradients, _ = per_sample_gram(module, per_sample_loss, X, y, lazy=True)
    samples = torch.tensor(samples, dtype=torch.long)
    index, weights = samples + 2, torch.rand(len(samples))
    out = torch.ones(10, gradients.rank_bound)
    assert gradients.add_weighted_gradients(out, index, samples, weights)
    expected = torch.ones(10, gradients.rank_bound)
    expected[index] += weights[:, None] * gradients.jacobian()[samples]
    torch.testing.assert_close(out, expected)

"""Optimizer specs behave as scikit-learn estimators and validate their hyperparameters."""

from __future__ import annotations

import math
import pickle

import pytest
import torch
from sklearn.base import clone

from sklearn_iw.solvers import OPTIMIZERS, OptimizerSpec, resolve_optimizer

FULL_BATCH = {
    "gd",
    "rprop",
    "quickprop",
    "delta_delta",
    "delta_bar_delta",
    "lbfgs",
    "cg",
    "bfgs",
    "newton",
}

# Values outside the domain of one hyperparameter (beyond nan, a string, None or a bool).
OUT_OF_RANGE = [
    ("gd", {"lr": 0.0}),
    ("sgd", {"lr": -0.1}),
    ("momentum", {"momentum": -0.5}),
    ("momentum", {"momentum": 1.0}),
    ("nesterov", {"momentum": 1.5}),
    ("adagrad", {"eps": 0.0}),
    ("rmsprop", {"gamma": 1.0}),
    ("adadelta", {"rho": 1.0}),
    ("adam", {"beta1": 1.0}),
    ("adam", {"beta2": 1.0}),
    ("rprop", {"eta_plus": 1.0}),
    ("rprop", {"eta_minus": 1.0}),
    ("rprop", {"eta_minus": 0.0}),
    ("rprop", {"step_min": 1.0, "step_max": 0.5}),
    ("quickprop", {"mu_max": 0.0}),
    ("delta_delta", {"gamma": -1.0}),
    ("delta_delta", {"lr_min": 1.0, "lr_max": 0.5}),
    ("delta_bar_delta", {"kappa": -0.01}),
    ("delta_bar_delta", {"phi": 1.5}),
    ("delta_bar_delta", {"theta": 1.0}),
    ("lbfgs", {"max_iter": 0}),
    ("lbfgs", {"history_size": 2.5}),
    ("cg", {"lr": 0.0}),
    ("cg", {"beta": "hestenes_stiefel"}),
    ("cg", {"restart": 0}),
    ("bfgs", {"max_params": 0}),
    ("newton", {"cg_max_iter": 0}),
    ("newton", {"cg_tol": 1.0}),
]


# Gradient rules: importance weights take per-sample losses instead of step(closure) and
# are tested in test_importance_weights.py.
GRADIENT_RULES = sorted(set(OPTIMIZERS) - {"importance_weights"})


def _parameter() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.ones(3))]


@pytest.mark.parametrize("name", GRADIENT_RULES)
def test_spec_is_an_estimator(name):
    spec = OPTIMIZERS[name]()
    assert spec.name == name
    assert spec.full_batch == (name in FULL_BATCH)
    params = spec.get_params()
    assert params, "every spec has hyperparameters"
    changed = {
        key: value * 0.5 if isinstance(value, float | int) else f"{value}!"
        for key, value in params.items()
    }
    assert spec.set_params(**changed) is spec
    assert spec.get_params() == changed
    copy = clone(spec)
    assert copy is not spec and copy.get_params() == changed


@pytest.mark.parametrize("name", GRADIENT_RULES)
def test_default_spec_builds_and_steps(name):
    params = _parameter()
    optimizer = OPTIMIZERS[name]().build(params)
    assert isinstance(optimizer, torch.optim.Optimizer)

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (params[0] - 2.0).square().sum()
        if not OPTIMIZERS[name].needs_graph:  # else the optimizer differentiates the loss
            loss.backward()
        return loss

    first = closure().item()
    for _ in range(5):
        optimizer.step(closure)
    assert closure().item() < first


@pytest.mark.parametrize("bad", [math.nan, "0.1", None, True])
@pytest.mark.parametrize("name", OPTIMIZERS)
def test_any_hyperparameter_rejects_garbage(name, bad):
    cls = OPTIMIZERS[name]
    for key in cls().get_params():
        if bad is None and None in cls._parameter_constraints[key]:
            continue  # a documented value (ImportanceWeights' loss_cap: no cap)
        spec = cls(**{key: bad})
        with pytest.raises(ValueError, match=key):
            spec.build(_parameter())


@pytest.mark.parametrize(("name", "hyper"), OUT_OF_RANGE)
def test_out_of_range_hyperparameter_raises_at_build(name, hyper):
    spec = OPTIMIZERS[name](**hyper)  # construction never validates (scikit-learn rule)
    with pytest.raises(ValueError, match=type(spec).__name__):
        spec.build(_parameter())


def test_resolve_optimizer():
    for name, cls in OPTIMIZERS.items():
        assert type(resolve_optimizer(name)) is cls
    spec = OPTIMIZERS["rprop"](eta_plus=1.5)
    resolved = resolve_optimizer(spec)
    assert isinstance(resolved, OptimizerSpec) and resolved is not spec
    assert resolved.get_params() == spec.get_params()
    with pytest.raises(ValueError, match="optimizer must be one of"):
        resolve_optimizer("newton_raphson")


def _lbfgs_step(w: torch.nn.Parameter, optimizer: torch.optim.Optimizer) -> None:
    """One L-BFGS step on a quadratic with unequal curvatures (not solved in one step)."""
    scales = torch.tensor([1.0, 10.0, 100.0])

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = (scales * (w - 2.0).square()).sum()
        loss.backward()
        return loss

    optimizer.step(closure)


def test_lbfgs_steps_again_after_a_pickle_round_trip():
    """torch pickles LBFGS without its parameter list; the spec's optimizer restores it."""
    (w,) = _parameter()
    optimizer = OPTIMIZERS["lbfgs"]().build([w])
    _lbfgs_step(w, optimizer)
    w_copy, optimizer_copy = pickle.loads(pickle.dumps((w, optimizer)))
    before = w_copy.detach().clone()
    _lbfgs_step(w, optimizer)
    _lbfgs_step(w_copy, optimizer_copy)
    assert not torch.equal(w_copy, before)
    torch.testing.assert_close(w_copy, w, rtol=0, atol=0)  # as if never pickled

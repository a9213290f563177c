"""Optimizer specs: small estimators that build a ``torch.optim.Optimizer``.

A spec holds hyperparameters only (``__init__`` stores them, as in scikit-learn), so
``clone`` copies it and ``GridSearchCV`` can tune ``optimizer__lr``. The training engine
calls :meth:`OptimizerSpec.build` once per fit, which validates the hyperparameters and
returns a fresh optimizer. Each rule is the lectures' formula exactly: where
``torch.optim`` computes it (up to rounding) it is used, otherwise the hand-written
optimizer of :mod:`sklearn_iw.solvers._rules`; the docstring of each spec says which.

Notation: ``g`` is the gradient of the mean loss on the current batch, ``t`` counts steps
from 1. Full-batch specs (``full_batch = True``) get the whole training set as one batch,
so one step per epoch: the rules that compare successive gradients (Rprop, Quickprop,
delta-delta, delta-bar-delta) need gradients that differ only because the weights moved,
not because the batch changed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from numbers import Integral, Real
from typing import Any, ClassVar

import torch
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import InvalidParameterError

from ._registry import resolve_spec
from ._rules import (
    AdagradOptimizer,
    DeltaBarDeltaOptimizer,
    DeltaDeltaOptimizer,
    MomentumOptimizer,
    NesterovOptimizer,
    QuickpropOptimizer,
    RMSpropOptimizer,
    RpropOptimizer,
)


@dataclass(frozen=True)
class _Interval:
    """The allowed values of a hyperparameter: a real interval, optionally integers only.

    Parameters
    ----------
    low : float
        Lower end.
    high : float, default=inf
        Upper end.
    low_open : bool, default=False
        Whether ``low`` itself is excluded.
    high_open : bool, default=False
        Whether ``high`` itself is excluded.
    integer : bool, default=False
        Whether only integers are allowed.
    """

    low: float
    high: float = math.inf
    low_open: bool = False
    high_open: bool = False
    integer: bool = False

    def __contains__(self, value: object) -> bool:
        kind = Integral if self.integer else Real
        if isinstance(value, bool) or not isinstance(value, kind):
            return False
        above = value > self.low if self.low_open else value >= self.low
        below = value < self.high if self.high_open else value <= self.high
        return above and below and math.isfinite(value)  # False for nan and inf

    def __str__(self) -> str:
        left = "(" if self.low_open else "["
        right = ")" if self.high_open or self.high == math.inf else "]"
        ends = f"{left}{self.low}, {self.high}{right}"
        return f"an integer in {ends}" if self.integer else f"a real number in {ends}"


_POSITIVE = _Interval(0.0, low_open=True)
_NON_NEGATIVE = _Interval(0.0)
_DECAY = _Interval(0.0, 1.0, high_open=True)
_COUNT = _Interval(1, integer=True)


class OptimizerSpec(BaseEstimator):
    """Base class of optimizer specs.

    Subclasses store their hyperparameters in ``__init__``, give each one its allowed
    values in ``_constraints`` (and the pairs that must be ordered, low first, in
    ``_ordered``) and name the optimizer class that :meth:`build` instantiates with
    them (renamed by :meth:`_optimizer_kwargs` where torch's names differ).

    Attributes
    ----------
    name : str
        The string accepted by the estimators' ``optimizer`` parameter.
    full_batch : bool
        If True the engine ignores ``batch_size`` and feeds the whole training set
        as one batch (plain gradient descent, L-BFGS, the sign- and secant-based rules).
    keyed_batches : bool
        If True the engine forms batches by hashing each sample's content, so that
        removing one sample leaves every other batch unchanged (the leave-one-out bound of
        importance weights needs this); batch sizes then vary around ``batch_size``.
    per_sample : bool
        If True the optimizer steps on per-sample losses (importance weights): the
        engine calls its ``iw_step`` instead of ``step``, and L2 is a decoupled
        weight decay per step.
    optimizer_class : type of torch.optim.Optimizer
        The optimizer that :meth:`build` returns.

    Examples
    --------
    A spec holds hyperparameters only; ``build`` returns a fresh torch optimizer:

    >>> import torch
    >>> from sklearn_iw.solvers import SGD, OptimizerSpec
    >>> spec = SGD(lr=0.05)
    >>> isinstance(spec, OptimizerSpec), spec.name, spec.full_batch
    (True, 'sgd', False)
    >>> type(spec.build([torch.nn.Parameter(torch.zeros(3))])).__name__
    'SGD'

    Specs are scikit-learn estimators, so grid searches reach their hyperparameters:

    >>> from sklearn_iw import IWLogisticRegression
    >>> clf = IWLogisticRegression(optimizer=spec)
    >>> clf.set_params(optimizer__lr=0.2).optimizer
    SGD(lr=0.2)
    """

    name: ClassVar[str] = ""
    full_batch: ClassVar[bool] = False
    keyed_batches: ClassVar[bool] = False
    per_sample: ClassVar[bool] = False
    optimizer_class: ClassVar[type[torch.optim.Optimizer]]
    _constraints: ClassVar[dict[str, _Interval]] = {}
    _ordered: ClassVar[tuple[tuple[str, str], ...]] = ()

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        """Validate the hyperparameters and return a fresh optimizer over ``params``.

        Parameters
        ----------
        params : iterable of torch.nn.Parameter
            The parameters to optimize.

        Returns
        -------
        optimizer : torch.optim.Optimizer

        Raises
        ------
        ValueError
            If a hyperparameter is outside its domain.
        """
        self._validate()
        return self.optimizer_class(params, **self._optimizer_kwargs())

    def _optimizer_kwargs(self) -> dict[str, Any]:
        """Return the keyword arguments of ``optimizer_class``: the hyperparameters."""
        return self.get_params(deep=False)

    def _validate(self) -> None:
        """Raise scikit-learn's ``InvalidParameterError`` (a ``ValueError``) for
        hyperparameters outside their domain or out of order."""
        params = self.get_params(deep=False)
        for key, value in params.items():
            allowed = self._constraints[key]
            if value not in allowed:
                raise InvalidParameterError(
                    f"{type(self).__name__}: {key} must be {allowed}, got {value!r}."
                )
        for low, high in self._ordered:
            if params[low] > params[high]:
                raise InvalidParameterError(
                    f"{type(self).__name__}: {low} ({params[low]!r}) must not exceed "
                    f"{high} ({params[high]!r})."
                )


class SGD(OptimizerSpec):
    """Stochastic gradient descent: ``w <- w - lr * g`` on each minibatch.

    Maps to ``torch.optim.SGD(lr=lr)``, which computes exactly this. With
    ``batch_size=1`` this is online learning.

    Parameters
    ----------
    lr : float, default=0.1
        Learning rate (step size).

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import SGD
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = SGD(lr=0.1).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9000, -1.8000])

    In an estimator, with the learning rate tunable as ``optimizer__lr``:

    >>> from sklearn_iw import IWLogisticRegression
    >>> IWLogisticRegression(optimizer=SGD(lr=0.05)).get_params()["optimizer__lr"]
    0.05
    """

    name = "sgd"
    optimizer_class = torch.optim.SGD
    _constraints = {"lr": _POSITIVE}

    def __init__(self, lr: float = 0.1):
        self.lr = lr


class GD(SGD):
    """Gradient descent on the full training set: ``w <- w - lr * g``.

    The same rule as :class:`SGD` (``torch.optim.SGD``), but the engine always uses one
    batch holding every training sample.

    Parameters
    ----------
    lr : float, default=0.5
        Learning rate (step size).

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import GD
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = GD().build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.5000, -1.0000])

    >>> GD.full_batch  # the engine feeds the whole training set as one batch
    True
    """

    name = "gd"
    full_batch = True

    def __init__(self, lr: float = 0.5):
        self.lr = lr


class Momentum(OptimizerSpec):
    """Momentum in exponential-moving-average form (hand-written).

    ``m <- momentum * m + (1 - momentum) * g`` (``m = 0`` at start), ``w <- w - lr * m``:
    :class:`~sklearn_iw.solvers._rules.MomentumOptimizer`. torch's SGD buffer starts at
    ``g`` even with ``dampening=momentum``, so its iterates differ from the first step.
    The average has unit gain, so ``lr`` is comparable to plain SGD's.

    Parameters
    ----------
    lr : float, default=0.1
        Learning rate ``eta``.
    momentum : float, default=0.9
        Momentum factor ``mu`` in [0, 1).

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Momentum
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = Momentum(lr=0.1, momentum=0.9).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9900, -1.9800])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9711, -1.9422])

    The first step is ``lr * (1 - momentum) * g``, the moving average starting at zero.
    """

    name = "momentum"
    optimizer_class = MomentumOptimizer
    _constraints = {"lr": _POSITIVE, "momentum": _DECAY}

    def __init__(self, lr: float = 0.1, momentum: float = 0.9):
        self.lr = lr
        self.momentum = momentum


class Nesterov(Momentum):
    """Nesterov accelerated gradient with the exact look-ahead (hand-written).

    ``v <- momentum * v - lr * grad R(w + momentum * v)`` (``v = 0`` at start),
    ``w <- w + v``: :class:`~sklearn_iw.solvers._rules.NesterovOptimizer`, which calls the
    closure at the look-ahead point. torch's ``nesterov=True`` is the reparametrised
    variant whose iterates are the look-ahead points.

    Parameters
    ----------
    lr : float, default=0.01
        Learning rate ``eta``.
    momentum : float, default=0.9
        Momentum factor ``mu`` in [0, 1).

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Nesterov
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = Nesterov(lr=0.1, momentum=0.9).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9000, -1.8000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.7290, -1.4580])

    The second gradient is taken at the look-ahead point ``w + 0.9 * v``.
    """

    name = "nesterov"
    optimizer_class = NesterovOptimizer

    def __init__(self, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(lr=lr, momentum=momentum)


class Adagrad(OptimizerSpec):
    """AdaGrad (Duchi et al. 2011), ``eps`` inside the root (hand-written).

    ``v <- v + g**2``, ``w <- w - lr * g / sqrt(v + eps)``:
    :class:`~sklearn_iw.solvers._rules.AdagradOptimizer` (``torch.optim.Adagrad`` divides
    by ``sqrt(v) + eps``).

    Parameters
    ----------
    lr : float, default=0.05
        Learning rate ``eta``.
    eps : float, default=1e-8
        Added to ``v`` inside the square root.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Adagrad
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = Adagrad(lr=0.5).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.5000, -1.5000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.2764, -1.2000])
    """

    name = "adagrad"
    optimizer_class = AdagradOptimizer
    _constraints = {"lr": _POSITIVE, "eps": _POSITIVE}

    def __init__(self, lr: float = 0.05, eps: float = 1e-8):
        self.lr = lr
        self.eps = eps


class RMSprop(OptimizerSpec):
    """RMSprop (Tieleman & Hinton 2012), ``eps`` inside the root (hand-written).

    ``v <- gamma * v + (1 - gamma) * g**2`` (``v = 0`` at start),
    ``w <- w - lr * g / sqrt(v + eps)``: :class:`~sklearn_iw.solvers._rules.RMSpropOptimizer`
    (``torch.optim.RMSprop`` divides by ``sqrt(v) + eps``).

    Parameters
    ----------
    lr : float, default=0.001
        Learning rate ``eta``.
    gamma : float, default=0.9
        Decay of the running mean of squared gradients, in [0, 1).
    eps : float, default=1e-8
        Added to ``v`` inside the square root.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import RMSprop
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = RMSprop(lr=0.01).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9684, -1.9684])
    """

    name = "rmsprop"
    optimizer_class = RMSpropOptimizer
    _constraints = {"lr": _POSITIVE, "gamma": _DECAY, "eps": _POSITIVE}

    def __init__(self, lr: float = 0.001, gamma: float = 0.9, eps: float = 1e-8):
        self.lr = lr
        self.gamma = gamma
        self.eps = eps


class Adadelta(OptimizerSpec):
    """Adadelta (Zeiler 2012), scaled by ``lr``.

    ``E[g2] <- rho * E[g2] + (1 - rho) * g**2``,
    ``dw = -sqrt(E[dw2] + eps) / sqrt(E[g2] + eps) * g``,
    ``E[dw2] <- rho * E[dw2] + (1 - rho) * dw**2``, ``w <- w + lr * dw`` (both averages 0 at
    start). Maps to ``torch.optim.Adadelta(lr=lr, rho=rho, eps=eps)``, which computes
    exactly these operations; ``lr=1`` is Zeiler's rule.

    Parameters
    ----------
    lr : float, default=1.0
        Factor applied to Zeiler's update.
    rho : float, default=0.95
        Decay of both running averages, in [0, 1).
    eps : float, default=1e-6
        Added inside both square roots.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Adadelta
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = Adadelta().build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9955, -1.9955])
    """

    name = "adadelta"
    optimizer_class = torch.optim.Adadelta
    _constraints = {"lr": _POSITIVE, "rho": _DECAY, "eps": _POSITIVE}

    def __init__(self, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6):
        self.lr = lr
        self.rho = rho
        self.eps = eps


class Adam(OptimizerSpec):
    """Adam with bias correction (Kingma & Ba 2015).

    ``m <- beta1 * m + (1 - beta1) * g``, ``v <- beta2 * v + (1 - beta2) * g**2``,
    ``w <- w - lr * m_hat / (sqrt(v_hat) + eps)`` with ``m_hat = m / (1 - beta1**t)`` and
    ``v_hat = v / (1 - beta2**t)``. Maps to ``torch.optim.Adam(lr=lr, betas=(beta1, beta2),
    eps=eps)``, which computes the same quantities (``sqrt(v_hat)`` as
    ``sqrt(v) / sqrt(1 - beta2**t)``, equal up to rounding).

    Parameters
    ----------
    lr : float, default=0.001
        Learning rate.
    beta1 : float, default=0.9
        Decay of the first-moment estimate, in [0, 1).
    beta2 : float, default=0.999
        Decay of the second-moment estimate, in [0, 1).
    eps : float, default=1e-8
        Added to the denominator.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Adam
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = Adam(lr=0.1).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9000, -1.9000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.8004, -1.8002])

    The first step moves every weight by ``lr`` (bias-corrected ``m_hat / sqrt(v_hat) = sign(g)``).
    """

    name = "adam"
    optimizer_class = torch.optim.Adam
    _constraints = {"lr": _POSITIVE, "beta1": _DECAY, "beta2": _DECAY, "eps": _POSITIVE}

    def __init__(
        self, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps

    def build(self, params: Iterable[torch.nn.Parameter]) -> torch.optim.Optimizer:
        params = list(params)
        self._validate()
        return self.optimizer_class(params, **self._optimizer_kwargs(), **_adam_kernel(params))

    def _optimizer_kwargs(self):
        return {"lr": self.lr, "betas": (self.beta1, self.beta2), "eps": self.eps}


def _adam_kernel(params: list[torch.nn.Parameter]) -> dict[str, bool]:
    """torch's fused Adam kernel where it exists for the parameters' device, else foreach.

    The fused kernel updates a parameter and its two moments in one pass (CUDA since
    torch 2.0, CPU since 2.4); on bench_fit's MLP it makes a float64 step 1.5x faster
    than foreach, which still beats one kernel call per parameter and state tensor.
    """
    devices = {param.device.type for param in params}
    if devices == {"cuda"} or (devices == {"cpu"} and torch.__version__ >= "2.4"):
        return {"fused": True}
    return {"foreach": True}


class Rprop(OptimizerSpec):
    """Resilient backpropagation (Riedmiller & Braun 1993), full batch (hand-written).

    Per-weight steps ``eta_i`` grow by ``eta_plus`` while the gradient keeps its sign,
    shrink by ``eta_minus`` when it flips, stay within ``[step_min, step_max]``;
    ``w_i <- w_i - eta_i * sign(g_i)``: :class:`~sklearn_iw.solvers._rules.RpropOptimizer`.
    ``torch.optim.Rprop`` is the Rprop- variant, which skips the step after a sign
    change, so its iterates differ.

    Parameters
    ----------
    lr : float, default=0.01
        Initial per-weight step size.
    eta_plus : float, default=1.2
        Growth factor, > 1.
    eta_minus : float, default=0.5
        Shrink factor, in (0, 1).
    step_min : float, default=1e-6
        Smallest step size.
    step_max : float, default=50.0
        Largest step size, >= ``step_min``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Rprop
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = Rprop(lr=0.1).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.9000, -1.9000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.7800, -1.7800])

    Steps of ``lr`` along the gradient's sign, then ``1.2 * lr`` while the sign holds.
    """

    name = "rprop"
    full_batch = True
    optimizer_class = RpropOptimizer
    _constraints = {
        "lr": _POSITIVE,
        "eta_plus": _Interval(1.0, low_open=True),
        "eta_minus": _Interval(0.0, 1.0, low_open=True, high_open=True),
        "step_min": _NON_NEGATIVE,
        "step_max": _POSITIVE,
    }
    _ordered = (("step_min", "step_max"),)

    def __init__(
        self,
        lr: float = 0.01,
        eta_plus: float = 1.2,
        eta_minus: float = 0.5,
        step_min: float = 1e-6,
        step_max: float = 50.0,
    ):
        self.lr = lr
        self.eta_plus = eta_plus
        self.eta_minus = eta_minus
        self.step_min = step_min
        self.step_max = step_max


class Quickprop(OptimizerSpec):
    """Quickprop (Fahlman 1988), full batch (hand-written).

    Per weight, the secant step ``dw(t) = g(t) / (g(t-1) - g(t)) * dw(t-1)``, clipped to
    ``mu_max * |dw(t-1)|``; the plain step ``-lr * g(t)`` where there is no previous step
    (``dw(t-1) == 0``, e.g. at ``t = 1``) or ``g(t-1) == g(t)``:
    :class:`~sklearn_iw.solvers._rules.QuickpropOptimizer`.

    Parameters
    ----------
    lr : float, default=0.1
        Learning rate of the fallback gradient step.
    mu_max : float, default=1.75
        Maximum growth factor of a weight's step.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import Quickprop
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = Quickprop(lr=0.5).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.5000, -1.0000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([0., 0.])

    A gradient step first, then the secant step jumps to the minimum of the parabola.
    """

    name = "quickprop"
    full_batch = True
    optimizer_class = QuickpropOptimizer
    _constraints = {"lr": _POSITIVE, "mu_max": _POSITIVE}

    def __init__(self, lr: float = 0.1, mu_max: float = 1.75):
        self.lr = lr
        self.mu_max = mu_max


class DeltaDelta(OptimizerSpec):
    """Delta-delta: per-weight rates driven by successive gradients, full batch (hand-written).

    ``eta_i <- clip(eta_i + gamma * g_i(t) * g_i(t-1), lr_min, lr_max)``,
    ``w_i <- w_i - eta_i * g_i``: :class:`~sklearn_iw.solvers._rules.DeltaDeltaOptimizer`.
    ``lr_min=-inf, lr_max=inf`` is the unbounded rule of the lectures. The default bounds
    keep the rates non-negative and no larger than a stable gradient-descent rate on
    standardized inputs: ``gamma`` multiplies squared gradients, so without them one
    step with large gradients (unscaled inputs) sends a rate far negative or far up and
    training diverges.

    Parameters
    ----------
    lr : float, default=0.5
        Initial learning rate of every weight.
    gamma : float, default=30.0
        Meta learning rate of the rates.
    lr_min : float, default=0.0
        Lower bound on the rates (may be -inf).
    lr_max : float, default=2.0
        Upper bound on the rates (may be inf), >= ``lr_min``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import DeltaDelta
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = DeltaDelta(lr=0.5, gamma=0.1).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.5000, -1.0000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.2250, -0.3000])

    The second step uses the rates ``0.5 + 0.1 * g(2) * g(1)``: 0.55 and 0.7.
    """

    name = "delta_delta"
    full_batch = True
    optimizer_class = DeltaDeltaOptimizer
    _constraints = {
        "lr": _POSITIVE,
        "gamma": _NON_NEGATIVE,
        "lr_min": _Interval(-math.inf),
        "lr_max": _Interval(-math.inf),
    }
    _ordered = (("lr_min", "lr_max"),)

    def __init__(
        self, lr: float = 0.5, gamma: float = 30.0, lr_min: float = 0.0, lr_max: float = 2.0
    ):
        self.lr = lr
        self.gamma = gamma
        self.lr_min = lr_min
        self.lr_max = lr_max


class DeltaBarDelta(OptimizerSpec):
    """Delta-bar-delta (Jacobs 1988), full batch (hand-written).

    A rate grows by ``kappa`` while the gradient agrees in sign with its running mean
    ``gbar(t-1)`` (decay ``theta``), shrinks by the fraction ``phi`` when they disagree;
    ``w_i <- w_i - eta_i * g_i``: :class:`~sklearn_iw.solvers._rules.DeltaBarDeltaOptimizer`,
    whose docstring explains the use of ``gbar(t-1)`` rather than ``gbar(t)``.

    Parameters
    ----------
    lr : float, default=0.1
        Initial learning rate of every weight.
    kappa : float, default=0.01
        Additive increase of a rate.
    phi : float, default=0.2
        Multiplicative decrease of a rate, in [0, 1].
    theta : float, default=0.7
        Decay of the running mean of the gradient, in [0, 1).

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import DeltaBarDelta
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = DeltaBarDelta(lr=0.5).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.5000, -1.0000])
    >>> _ = optimizer.step(closure)
    >>> w.data
    tensor([ 0.2450, -0.4900])
    """

    name = "delta_bar_delta"
    full_batch = True
    optimizer_class = DeltaBarDeltaOptimizer
    _constraints = {
        "lr": _POSITIVE,
        "kappa": _NON_NEGATIVE,
        "phi": _Interval(0.0, 1.0),
        "theta": _DECAY,
    }

    def __init__(self, lr: float = 0.1, kappa: float = 0.01, phi: float = 0.2, theta: float = 0.7):
        self.lr = lr
        self.kappa = kappa
        self.phi = phi
        self.theta = theta


class LBFGS(OptimizerSpec):
    """Limited-memory BFGS on the full batch, with a strong-Wolfe line search.

    Maps to ``torch.optim.LBFGS(lr=lr, max_iter=max_iter, history_size=history_size,
    line_search_fn='strong_wolfe')`` with up to 25 function evaluations per iteration for
    the line search; one engine epoch is one call of ``step``, which runs up to
    ``max_iter`` L-BFGS iterations. The default of one iteration per epoch makes the
    estimator's ``max_iter`` count L-BFGS iterations, as in scikit-learn's MLP, and lets
    ``tol``/``n_iter_no_change`` judge every iteration.

    Parameters
    ----------
    lr : float, default=1.0
        Step length scale.
    max_iter : int, default=1
        L-BFGS iterations per epoch.
    history_size : int, default=10
        Number of curvature pairs kept.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import LBFGS
    >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    >>> optimizer = LBFGS(max_iter=5).build([w])
    >>> def closure():  # one step on the loss (w ** 2).sum() / 2, whose gradient is w
    ...     optimizer.zero_grad()
    ...     loss = (w ** 2).sum() / 2
    ...     loss.backward()
    ...     return loss
    >>> _ = optimizer.step(closure)
    >>> bool(w.data.abs().max() < 1e-4)
    True
    """

    name = "lbfgs"
    full_batch = True
    optimizer_class = torch.optim.LBFGS
    _constraints = {"lr": _POSITIVE, "max_iter": _COUNT, "history_size": _COUNT}

    def __init__(self, lr: float = 1.0, max_iter: int = 1, history_size: int = 10):
        self.lr = lr
        self.max_iter = max_iter
        self.history_size = history_size

    def _optimizer_kwargs(self):
        return {
            **self.get_params(deep=False),
            # torch's budget of int(1.25 * max_iter) evaluations starves the strong-Wolfe
            # line search at small max_iter (at max_iter=1 the step never moves).
            "max_eval": 25 * self.max_iter,
            "tolerance_grad": 1e-9,
            "tolerance_change": 1e-12,
            "line_search_fn": "strong_wolfe",
        }


OPTIMIZERS: dict[str, type[OptimizerSpec]] = {
    cls.name: cls
    for cls in (
        GD,
        SGD,
        Momentum,
        Nesterov,
        Adagrad,
        RMSprop,
        Adadelta,
        Adam,
        Rprop,
        Quickprop,
        DeltaDelta,
        DeltaBarDelta,
        LBFGS,
    )
}


def resolve_optimizer(optimizer: str | OptimizerSpec) -> OptimizerSpec:
    """Turn the ``optimizer`` parameter of an estimator into a fresh spec.

    Parameters
    ----------
    optimizer : str or OptimizerSpec
        A name from ``OPTIMIZERS`` or a spec instance (cloned, never modified).

    Returns
    -------
    spec : OptimizerSpec

    Examples
    --------
    >>> from sklearn_iw.solvers import Adam, resolve_optimizer
    >>> resolve_optimizer("rprop")
    Rprop()
    >>> spec = Adam(lr=0.01)
    >>> resolved = resolve_optimizer(spec)
    >>> resolved, resolved is spec
    (Adam(lr=0.01), False)
    """
    return resolve_spec(optimizer, OPTIMIZERS, OptimizerSpec, "optimizer")

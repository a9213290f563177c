"""Delta-delta: per-weight rates driven by successive gradients (hand-written)."""

from __future__ import annotations

from numbers import Real
from typing import Any

from torch import Tensor

from .._spec import NON_NEGATIVE, POSITIVE, NumberInterval, OptimizerSpec
from ._base import PerWeightRateOptimizer

# Any finite rate bound: a bound is a number the rates are clipped to.
_RATE_BOUND = NumberInterval(Real, None, None, closed="neither")


class DeltaDeltaOptimizer(PerWeightRateOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.DeltaDelta`, which gives the rule.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr, gamma, lr_min, lr_max : float
        The hyperparameters of the spec.
    """

    _buffers = ("prev_grad",)
    _hyperparameters = ("lr", "gamma", "lr_min", "lr_max")

    def _adapt(self, g: Tensor, state: dict[str, Tensor], group: dict[str, Any]) -> None:
        state["rates"].addcmul_(g, state["prev_grad"], value=group["gamma"])
        state["rates"].clamp_(group["lr_min"], group["lr_max"])
        state["prev_grad"].copy_(g)


class DeltaDelta(OptimizerSpec):
    """Delta-delta: per-weight rates driven by successive gradients, full batch (hand-written).

    ``eta_i <- clip(eta_i + gamma * g_i(t) * g_i(t-1), lr_min, lr_max)`` with
    ``eta_i = lr`` and ``g(0) = 0`` at start, then ``w_i <- w_i - eta_i * g_i``:
    :class:`~sklearn_iw.solvers.DeltaDeltaOptimizer`. The lectures' rule is unbounded
    (bounds far apart come close to it); it lets a rate turn negative after an oscillation
    (gradient ascent) or jump by ``gamma * g**2``. The default bounds keep the rates
    non-negative and no larger than a stable gradient-descent rate on standardized
    inputs: ``gamma`` multiplies squared gradients, so without them one step with large
    gradients (unscaled inputs) sends a rate far negative or far up and training
    diverges (the weakness that delta-bar-delta fixes).

    Parameters
    ----------
    lr : float, default=0.5
        Initial learning rate of every weight.
    gamma : float, default=30.0
        Meta learning rate of the rates.
    lr_min : float, default=0.0
        Lower bound on the rates (finite, may be negative).
    lr_max : float, default=2.0
        Upper bound on the rates (finite), >= ``lr_min``.

    Examples
    --------
    The second step uses the rates ``0.5 + 0.1 * g(2) * g(1)``: 0.55 and 0.7.

    >>> from sklearn_iw.solvers import DeltaDelta, quadratic_iterates
    >>> quadratic_iterates(DeltaDelta(lr=0.5, gamma=0.1))
    tensor([[ 0.5000, -1.0000],
            [ 0.2250, -0.3000]])
    """

    name = "delta_delta"
    full_batch = True
    computed_by = "hand-written"
    optimizer_class = DeltaDeltaOptimizer
    _parameter_constraints = {
        "lr": [POSITIVE],
        "gamma": [NON_NEGATIVE],
        "lr_min": [_RATE_BOUND],
        "lr_max": [_RATE_BOUND],
    }
    _ordered_pairs = (("lr_min", "lr_max"),)

    def __init__(
        self, lr: float = 0.5, gamma: float = 30.0, lr_min: float = 0.0, lr_max: float = 2.0
    ):
        self.lr = lr
        self.gamma = gamma
        self.lr_min = lr_min
        self.lr_max = lr_max

"""Momentum in exponential-moving-average form (hand-written)."""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .._spec import DECAY, POSITIVE, OptimizerSpec
from ._base import RuleOptimizer


class MomentumOptimizer(RuleOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.Momentum`, which gives the rule.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr, momentum : float
        The hyperparameters of the spec.
    """

    _buffers = ("m",)
    _hyperparameters = ("lr", "momentum")

    def _update(
        self, p: Tensor, g: Tensor, state: dict[str, Tensor], group: dict[str, Any]
    ) -> None:
        mu = group["momentum"]
        state["m"].mul_(mu).add_(g, alpha=1 - mu)
        p.add_(state["m"], alpha=-group["lr"])


class Momentum(OptimizerSpec):
    """Momentum in exponential-moving-average form (hand-written).

    ``m <- momentum * m + (1 - momentum) * g`` (``m = 0`` at start), ``w <- w - lr * m``:
    :class:`~sklearn_iw.solvers.MomentumOptimizer`. The average has unit gain, so ``lr``
    is comparable to plain SGD's. ``torch.optim.SGD(momentum=mu, dampening=mu)`` is not
    this rule: torch initialises its buffer to ``g`` undamped, so its first step is
    ``lr * g`` instead of ``lr * (1 - mu) * g`` and all later iterates differ.

    Parameters
    ----------
    lr : float, default=0.1
        Learning rate ``eta``.
    momentum : float, default=0.9
        Momentum factor ``mu`` in [0, 1).

    Examples
    --------
    The first step is ``lr * (1 - momentum) * g``, the moving average starting at zero:

    >>> from sklearn_iw.solvers import Momentum, quadratic_iterates
    >>> quadratic_iterates(Momentum(lr=0.1, momentum=0.9))
    tensor([[ 0.9900, -1.9800],
            [ 0.9711, -1.9422]])
    """

    name = "momentum"
    computed_by = "hand-written"
    optimizer_class = MomentumOptimizer
    _parameter_constraints = {"lr": [POSITIVE], "momentum": [DECAY]}

    def __init__(self, lr: float = 0.1, momentum: float = 0.9):
        self.lr = lr
        self.momentum = momentum

"""RMSprop with ``eps`` inside the square root (hand-written)."""

from __future__ import annotations

from typing import Any

from .._spec import DECAY, POSITIVE, OptimizerSpec
from ._base import RootScaledOptimizer


class RMSpropOptimizer(RootScaledOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.RMSprop`, which gives the rule.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr, gamma, eps : float
        The hyperparameters of the spec.
    """

    _hyperparameters = ("lr", "gamma", "eps")

    def _coefficients(self, group: dict[str, Any]) -> tuple[float, float]:
        return group["gamma"], 1 - group["gamma"]


class RMSprop(OptimizerSpec):
    """RMSprop (Tieleman & Hinton 2012), ``eps`` inside the root (hand-written).

    ``v <- gamma * v + (1 - gamma) * g**2`` (``v = 0`` at start),
    ``w <- w - lr * g / sqrt(v + eps)``: :class:`~sklearn_iw.solvers.RMSpropOptimizer`.
    ``torch.optim.RMSprop`` divides by ``sqrt(v) + eps`` instead.

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
    The first step is ``lr * g / sqrt(0.1 * g**2) = lr * sign(g) / sqrt(0.1)``:

    >>> from sklearn_iw.solvers import RMSprop, quadratic_iterates
    >>> quadratic_iterates(RMSprop(lr=0.01))
    tensor([[ 0.9684, -1.9684],
            [ 0.9458, -1.9456]])
    """

    name = "rmsprop"
    computed_by = "hand-written"
    optimizer_class = RMSpropOptimizer
    _parameter_constraints = {"lr": [POSITIVE], "gamma": [DECAY], "eps": [POSITIVE]}

    def __init__(self, lr: float = 0.001, gamma: float = 0.9, eps: float = 1e-8):
        self.lr = lr
        self.gamma = gamma
        self.eps = eps

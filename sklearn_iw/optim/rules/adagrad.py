"""AdaGrad with ``eps`` inside the square root (hand-written)."""

from __future__ import annotations

from typing import Any

from .._spec import POSITIVE, OptimizerSpec
from ._base import RootScaledOptimizer


class AdagradOptimizer(RootScaledOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.Adagrad`, which gives the rule.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr, eps : float
        The hyperparameters of the spec.
    """

    _hyperparameters = ("lr", "eps")

    def _coefficients(self, group: dict[str, Any]) -> tuple[float, float]:
        return 1.0, 1.0


class Adagrad(OptimizerSpec):
    """AdaGrad (Duchi et al. 2011), ``eps`` inside the root (hand-written).

    ``v <- v + g**2`` (``v = 0`` at start), ``w <- w - lr * g / sqrt(v + eps)``:
    :class:`~sklearn_iw.solvers.AdagradOptimizer`. ``torch.optim.Adagrad`` divides by
    ``sqrt(v) + eps`` instead.

    Parameters
    ----------
    lr : float, default=0.05
        Learning rate ``eta``.
    eps : float, default=1e-8
        Added to ``v`` inside the square root.

    Examples
    --------
    >>> from sklearn_iw.solvers import Adagrad, quadratic_iterates
    >>> quadratic_iterates(Adagrad(lr=0.5))
    tensor([[ 0.5000, -1.5000],
            [ 0.2764, -1.2000]])
    """

    name = "adagrad"
    computed_by = "hand-written"
    optimizer_class = AdagradOptimizer
    _parameter_constraints = {"lr": [POSITIVE], "eps": [POSITIVE]}

    def __init__(self, lr: float = 0.05, eps: float = 1e-8):
        self.lr = lr
        self.eps = eps

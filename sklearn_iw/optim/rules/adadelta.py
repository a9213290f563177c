"""Adadelta, computed by ``torch.optim.Adadelta``."""

from __future__ import annotations

import torch

from .._spec import DECAY, POSITIVE, OptimizerSpec


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
    >>> from sklearn_iw.solvers import Adadelta, quadratic_iterates
    >>> quadratic_iterates(Adadelta())
    tensor([[ 0.9955, -1.9955],
            [ 0.9910, -1.9910]])
    """

    name = "adadelta"
    computed_by = "torch.optim.Adadelta"
    optimizer_class = torch.optim.Adadelta
    _parameter_constraints = {"lr": [POSITIVE], "rho": [DECAY], "eps": [POSITIVE]}

    def __init__(self, lr: float = 1.0, rho: float = 0.95, eps: float = 1e-6):
        self.lr = lr
        self.rho = rho
        self.eps = eps

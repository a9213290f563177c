"""Delta-bar-delta: per-weight rates driven by the gradient's running mean (hand-written)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._spec import DECAY, FRACTION, NON_NEGATIVE, POSITIVE, OptimizerSpec
from ._base import PerWeightRateOptimizer


class DeltaBarDeltaOptimizer(PerWeightRateOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.DeltaBarDelta`, which gives the
    rule.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr, kappa, phi, theta : float
        The hyperparameters of the spec.
    """

    _buffers = ("bar_grad",)
    _hyperparameters = ("lr", "kappa", "phi", "theta")

    def _adapt(self, g: Tensor, state: dict[str, Tensor], group: dict[str, Any]) -> None:
        rates, bar = state["rates"], state["bar_grad"]
        agreement = bar * g
        change = torch.where(
            agreement > 0,
            group["kappa"],
            torch.where(agreement < 0, -group["phi"] * rates, 0.0),
        )
        rates.add_(change)
        bar.mul_(group["theta"]).add_(g, alpha=1 - group["theta"])


class DeltaBarDelta(OptimizerSpec):
    """Delta-bar-delta (Jacobs 1988), full batch (hand-written).

    With the running mean ``gbar_i(t) = theta * gbar_i(t-1) + (1 - theta) * g_i(t)``
    (``gbar(0) = 0``), each step changes the rate ``eta_i`` (``lr`` at start) by
    ``+kappa`` if ``gbar_i(t-1) * g_i(t) > 0``, by ``-phi * eta_i`` if it is ``< 0`` and
    not at all if 0, then ``w_i <- w_i - eta_i * g_i`` with the new rate:
    :class:`~sklearn_iw.solvers.DeltaBarDeltaOptimizer`. The comparison uses the mean
    *before* the current gradient enters it, as in Jacobs's paper: the variant with
    ``gbar_i(t) * g_i(t)`` partly compares ``g_i(t)`` with itself and so reacts late to a
    sign change.

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
    The second step's rates grew by ``kappa`` to 0.51: ``gbar(1) * g(2) > 0``.

    >>> from sklearn_iw.solvers import DeltaBarDelta, quadratic_iterates
    >>> quadratic_iterates(DeltaBarDelta(lr=0.5))
    tensor([[ 0.5000, -1.0000],
            [ 0.2450, -0.4900]])
    """

    name = "delta_bar_delta"
    full_batch = True
    computed_by = "hand-written"
    optimizer_class = DeltaBarDeltaOptimizer
    _parameter_constraints = {
        "lr": [POSITIVE],
        "kappa": [NON_NEGATIVE],
        "phi": [FRACTION],
        "theta": [DECAY],
    }

    def __init__(self, lr: float = 0.1, kappa: float = 0.01, phi: float = 0.2, theta: float = 0.7):
        self.lr = lr
        self.kappa = kappa
        self.phi = phi
        self.theta = theta

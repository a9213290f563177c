"""Quickprop, a per-weight secant step (hand-written)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._spec import POSITIVE, OptimizerSpec
from ._base import RuleOptimizer


class QuickpropOptimizer(RuleOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.Quickprop`, which gives the rule.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr, mu_max : float
        The hyperparameters of the spec.
    """

    _buffers = ("prev_grad", "prev_delta")
    _hyperparameters = ("lr", "mu_max")

    def _update(
        self, p: Tensor, g: Tensor, state: dict[str, Tensor], group: dict[str, Any]
    ) -> None:
        prev_grad, prev_delta = state["prev_grad"], state["prev_delta"]
        denominator = prev_grad - g
        fallback = (prev_delta == 0) | (denominator == 0)
        # Dividing by 1 where the fallback applies keeps inf and nan out of the result.
        secant = g / torch.where(fallback, 1.0, denominator) * prev_delta
        cap = group["mu_max"] * prev_delta.abs()
        delta = torch.where(fallback, -group["lr"] * g, torch.clamp(secant, -cap, cap))
        p.add_(delta)
        prev_delta.copy_(delta)
        prev_grad.copy_(g)


class Quickprop(OptimizerSpec):
    """Quickprop (Fahlman 1988), full batch (hand-written).

    Per weight, the secant (parabola) step ``dw_i(t) = g_i(t) / (g_i(t-1) - g_i(t)) *
    dw_i(t-1)`` and ``w_i <- w_i + dw_i(t)``, with two safeguards:

    * fallback: where ``dw_i(t-1) == 0`` (no previous step, in particular at ``t = 1``)
      or ``g_i(t-1) == g_i(t)`` (the denominator vanishes), the step is the plain
      gradient step ``dw_i(t) = -lr * g_i(t)``, not capped;
    * growth cap: otherwise the secant step is clipped to
      ``[-mu_max * |dw_i(t-1)|, mu_max * |dw_i(t-1)|]`` (its sign is kept).

    The cap also bounds the step where the parabola opens downwards (the secant then
    points uphill); no gradient term is added to the secant step. Computed by
    :class:`~sklearn_iw.solvers.QuickpropOptimizer`.

    Parameters
    ----------
    lr : float, default=0.1
        Learning rate of the fallback gradient step.
    mu_max : float, default=1.75
        Maximum growth factor of a weight's step.

    Examples
    --------
    A gradient step first, then the secant step jumps to the minimum of the parabola:

    >>> from sklearn_iw.solvers import Quickprop, quadratic_iterates
    >>> quadratic_iterates(Quickprop(lr=0.5))
    tensor([[ 0.5000, -1.0000],
            [ 0.0000,  0.0000]])
    """

    name = "quickprop"
    full_batch = True
    computed_by = "hand-written"
    optimizer_class = QuickpropOptimizer
    _parameter_constraints = {"lr": [POSITIVE], "mu_max": [POSITIVE]}

    def __init__(self, lr: float = 0.1, mu_max: float = 1.75):
        self.lr = lr
        self.mu_max = mu_max

"""Resilient backpropagation with step bounds, as in the lectures (hand-written)."""

from __future__ import annotations

from numbers import Real
from typing import Any

import torch
from torch import Tensor

from .._spec import NON_NEGATIVE, POSITIVE, NumberInterval, OptimizerSpec
from ._base import PerWeightRateOptimizer


class RpropOptimizer(PerWeightRateOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.Rprop`, which gives the rule.

    Parameters
    ----------
    params : iterable of Tensor or dict
        Parameters to optimize, or parameter groups.
    lr, eta_plus, eta_minus, step_min, step_max : float
        The hyperparameters of the spec.
    """

    _buffers = ("prev_grad",)
    _hyperparameters = ("lr", "eta_plus", "eta_minus", "step_min", "step_max")

    def _adapt(self, g: Tensor, state: dict[str, Tensor], group: dict[str, Any]) -> None:
        agreement = state["prev_grad"] * g
        factor = torch.where(
            agreement > 0,
            group["eta_plus"],
            torch.where(agreement < 0, group["eta_minus"], torch.ones_like(g)),
        )
        state["rates"].mul_(factor).clamp_(group["step_min"], group["step_max"])
        state["prev_grad"].copy_(g)

    def _direction(self, g: Tensor) -> Tensor:
        return g.sign()


class Rprop(OptimizerSpec):
    """Resilient backpropagation (Riedmiller & Braun 1993), full batch (hand-written).

    Per-weight steps ``eta_i`` (``lr`` at start) change by the sign agreement of
    successive gradients: ``eta_i <- eta_plus * eta_i`` if ``g_i(t-1) * g_i(t) > 0``,
    ``eta_minus * eta_i`` if it is ``< 0``, unchanged if 0 (in particular at ``t = 1``,
    where ``g(0) = 0``); then ``eta_i`` is clipped to ``[step_min, step_max]`` and
    ``w_i <- w_i - eta_i * sign(g_i)``: :class:`~sklearn_iw.solvers.RpropOptimizer`.
    ``torch.optim.Rprop`` is the Rprop- variant, which skips the step after a sign
    change, so its iterates differ; here the step is taken even after a sign change and
    the gradient is remembered as is.

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
    Steps of ``lr`` along the gradient's sign, then ``1.2 * lr`` while the sign holds:

    >>> from sklearn_iw.solvers import Rprop, quadratic_iterates
    >>> quadratic_iterates(Rprop(lr=0.1))
    tensor([[ 0.9000, -1.9000],
            [ 0.7800, -1.7800]])
    """

    name = "rprop"
    full_batch = True
    computed_by = "hand-written"
    optimizer_class = RpropOptimizer
    _parameter_constraints = {
        "lr": [POSITIVE],
        "eta_plus": [NumberInterval(Real, 1, None, closed="neither")],
        "eta_minus": [NumberInterval(Real, 0, 1, closed="neither")],
        "step_min": [NON_NEGATIVE],
        "step_max": [POSITIVE],
    }
    _ordered_pairs = (("step_min", "step_max"),)

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

"""Nonlinear conjugate gradient with a strong-Wolfe line search (hand-written directions,
``scipy.optimize.line_search``)."""

from __future__ import annotations

from typing import Any

import torch
from sklearn.utils._param_validation import StrOptions
from torch import Tensor

from .._spec import COUNT, POSITIVE, OptimizerSpec
from ._line_search import FlatOptimizer, HessianProduct, steepest_descent


class CGOptimizer(FlatOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.CG`, which gives the rule and
    the hyperparameters."""

    # Nocedal & Wright (section 3.1) suggest c2 = 0.1 for nonlinear CG: a nearly exact
    # line search keeps successive directions conjugate.
    c2 = 0.1

    def _direction(
        self, x: Tensor, g: Tensor, f: float, state: dict[str, Any], hvp: HessianProduct | None
    ) -> tuple[Tensor, float | None]:
        restart = self.defaults["restart"]
        if restart == "auto":
            restart = x.numel()
        if "d" not in state or state["k"] >= restart:
            d, previous_f = steepest_descent(g, f) if "d" not in state else (-g, state["f"])
            state["k"] = 1
            return d, previous_f
        g_prev, d_prev = state["g"], state["d"]
        if self.defaults["beta"] == "fletcher_reeves":
            beta = g.dot(g) / g_prev.dot(g_prev)
        else:  # Polak-Ribiere+, max(0, PR): a negative beta restarts
            beta = torch.clamp(g.dot(g - g_prev) / g_prev.dot(g_prev), min=0.0)
        d = beta * d_prev - g
        if g.dot(d) >= 0:  # not a descent direction: restart
            d, state["k"] = -g, 1
        else:
            state["k"] += 1
        return d, state["f"]

    def _remember(
        self, state: dict[str, Any], x: Tensor, f: float, g: Tensor, d: Tensor, alpha: float
    ) -> None:
        state.update(d=d, g=g, f=f)


class CG(OptimizerSpec):
    """Nonlinear conjugate gradient on the full batch, with a strong-Wolfe line search.

    With the gradient ``g_k`` at ``w_k``:

    * ``d_0 = -g_0`` and ``d_k = -g_k + beta_k d_{k-1}``, where
      ``beta_k = max(0, g_k . (g_k - g_{k-1}) / |g_{k-1}|^2)`` (Polak-Ribiere+, the
      default) or ``beta_k = |g_k|^2 / |g_{k-1}|^2`` (Fletcher-Reeves);
    * restarts (``d_k = -g_k``) every ``restart`` directions, where PR+ clamps a negative
      beta, and where ``d_k`` is not a descent direction (``g_k . d_k >= 0``);
    * ``w_{k+1} = w_k + alpha_k d_k``, with ``alpha_k`` satisfying the strong Wolfe
      conditions (``c1 = 1e-4``, ``c2 = 0.1``). The first trial step is scipy's
      ``lr * min(1, 2.02 (f_k - f_{k-1}) / (lr g_k . d_k))``, and
      ``lr * min(1, 1.01 / (lr |g_0|))`` at the start or after a failed search.

    The parameters are one flat vector. The directions are hand-written in torch and the
    line search is ``scipy.optimize.line_search`` (the strong-Wolfe search of
    ``scipy.optimize.minimize(method='CG')``); ``scipy.optimize.minimize`` itself is not
    used because it cannot resume: the previous direction and gradient must carry over
    from one ``step`` (one engine epoch) to the next, else every epoch would be steepest
    descent. A search that fails restarts from ``-g_k``; if that fails too, the step
    leaves the weights unchanged.

    Parameters
    ----------
    lr : float, default=1.0
        The largest first trial step of the line search, in units of ``d_k`` (as
        :class:`LBFGS`'s ``lr``); a learning-rate schedule scales it.
    beta : {'polak_ribiere', 'fletcher_reeves'}, default='polak_ribiere'
        The formula of ``beta_k`` (Polak-Ribiere+ or Fletcher-Reeves).
    restart : int or 'auto', default='auto'
        Restart after this many directions; 'auto' is the number of parameters ``n``
        (on a quadratic, CG with exact line searches ends in ``n`` steps).
    max_iter : int, default=1
        Iterations per epoch (one ``step`` call), as for :class:`LBFGS`.

    Examples
    --------
    Two CG steps on a 2-D quadratic land on its minimum:

    >>> from sklearn_iw.solvers import CG, quadratic_iterates
    >>> bool(quadratic_iterates(CG(), steps=2)[-1].abs().max() < 1e-4)
    True
    """

    name = "cg"
    full_batch = True
    computed_by = "hand-written + scipy.optimize.line_search"
    optimizer_class = CGOptimizer
    _parameter_constraints = {
        "lr": [POSITIVE],
        "beta": [StrOptions({"polak_ribiere", "fletcher_reeves"})],
        "restart": [COUNT, StrOptions({"auto"})],
        "max_iter": [COUNT],
    }

    def __init__(
        self,
        lr: float = 1.0,
        beta: str = "polak_ribiere",
        restart: int | str = "auto",
        max_iter: int = 1,
    ):
        self.lr = lr
        self.beta = beta
        self.restart = restart
        self.max_iter = max_iter

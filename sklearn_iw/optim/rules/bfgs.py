"""BFGS with the full inverse-Hessian approximation and a strong-Wolfe line search
(hand-written update, ``scipy.optimize.line_search``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from .._spec import COUNT, POSITIVE, OptimizerSpec
from ._line_search import FlatOptimizer, HessianProduct, steepest_descent


class BFGSOptimizer(FlatOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.BFGS`, which gives the rule and
    the hyperparameters.

    Raises
    ------
    ValueError
        If there are more than ``max_params`` parameters.
    """

    def __init__(self, params: Iterable[Any], *, lr: float, max_iter: int, max_params: int) -> None:
        super().__init__(params, lr=lr, max_iter=max_iter, max_params=max_params)
        n = sum(p.numel() for p in self._params)
        if n > max_params:
            raise ValueError(
                f"BFGS keeps an n x n inverse-Hessian approximation: {n} parameters would "
                f"need {n * n:,} entries and O(n^2) work per iteration, above max_params="
                f"{max_params}. Use 'lbfgs' (limited memory) or a smaller model, or raise "
                "BFGS(max_params=...)."
            )

    def _direction(
        self, x: Tensor, g: Tensor, f: float, state: dict[str, Any], hvp: HessianProduct | None
    ) -> tuple[Tensor, float | None]:
        if "x" in state:
            s, y = x - state["x"], g - state["g"]
            sy = s.dot(y)
            # Wolfe steps give s.y > 0 on one objective; a pair without positive curvature
            # (rounding, or the data changed between fits) would break positive
            # definiteness, so it is skipped.
            if sy > 0:
                if "H" not in state:  # H_0 = (s.y / y.y) I before the first update (N&W 6.20)
                    state["H"] = torch.diag(torch.full_like(x, float(sy / y.dot(y))))
                H = state["H"]
                Hy = H @ y
                rho = 1.0 / sy
                # (I - rho s y^T) H (I - rho y s^T) + rho s s^T, expanded (H symmetric).
                H.addr_(s, s, alpha=float(rho + rho * rho * y.dot(Hy)))
                H.addr_(s, Hy, alpha=-float(rho))
                H.addr_(Hy, s, alpha=-float(rho))
        if "H" not in state:
            return steepest_descent(g, f)
        d = -(state["H"] @ g)
        if g.dot(d) >= 0:  # rounding broke positive definiteness: start again from I
            self._forget(state)
            return steepest_descent(g, f)
        return d, None  # a quasi-Newton step: try the unit step first

    def _remember(
        self, state: dict[str, Any], x: Tensor, f: float, g: Tensor, d: Tensor, alpha: float
    ) -> None:
        # The pair (s, y) is formed at the next iteration, from where the weights are then
        # (the engine's update clipping may move them) and the gradient there.
        state.update(x=x, g=g)


class BFGS(OptimizerSpec):
    """BFGS (quasi-Newton) on the full batch, with a strong-Wolfe line search.

    With ``s_k = w_{k+1} - w_k``, ``y_k = g_{k+1} - g_k`` and ``rho_k = 1 / (y_k . s_k)``,
    the inverse-Hessian approximation is updated as

    ``H_{k+1} = (I - rho_k s_k y_k^T) H_k (I - rho_k y_k s_k^T) + rho_k s_k s_k^T``

    (skipped when ``y_k . s_k <= 0``), starting from ``H_1 = (y_0 . s_0) / (y_0 . y_0) I``
    just before the first update (the first step is steepest descent). The step is
    ``w_{k+1} = w_k + alpha_k d_k`` with ``d_k = -H_k g_k``, ``alpha_k`` satisfying the
    strong Wolfe conditions (``c1 = 1e-4``, ``c2 = 0.9``), tried first at ``lr`` (at the
    steepest-descent start, at ``lr * min(1, 1.01 / (lr |g_0|))`` as scipy does).

    The parameters are one flat vector; ``H`` is a dense ``n x n`` tensor on the
    parameters' device and dtype, so BFGS refuses models with more than ``max_params``
    parameters (5000 by default: 100 MB in float32 and 25 M multiply-adds per update;
    memory and time grow as ``n^2``; :class:`LBFGS` is the limited-memory method for
    larger models). The update is hand-written in torch and the line search is
    ``scipy.optimize.line_search`` (the strong-Wolfe search of
    ``scipy.optimize.minimize(method='BFGS')``, which cannot resume its ``H`` from one
    ``step``, one engine epoch, to the next). A failed search restarts from ``H = I``.

    Parameters
    ----------
    lr : float, default=1.0
        The first trial step of the line search (1: the quasi-Newton step), as
        :class:`LBFGS`'s ``lr``; a learning-rate schedule scales it.
    max_iter : int, default=1
        Iterations per epoch (one ``step`` call), as for :class:`LBFGS`.
    max_params : int, default=5000
        The largest number of parameters accepted; above it ``fit`` raises a
        ``ValueError``.

    Examples
    --------
    A few BFGS steps on a 2-D quadratic reach its minimum:

    >>> from sklearn_iw.solvers import BFGS, quadratic_iterates
    >>> bool(quadratic_iterates(BFGS(), steps=3)[-1].abs().max() < 1e-4)
    True
    """

    name = "bfgs"
    full_batch = True
    computed_by = "hand-written + scipy.optimize.line_search"
    optimizer_class = BFGSOptimizer
    _parameter_constraints = {"lr": [POSITIVE], "max_iter": [COUNT], "max_params": [COUNT]}

    def __init__(self, lr: float = 1.0, max_iter: int = 1, max_params: int = 5000):
        self.lr = lr
        self.max_iter = max_iter
        self.max_params = max_params

"""Newton-CG: Newton's method with exact Hessian-vector products (``torch.autograd``),
solved by truncated conjugate gradient, with a strong-Wolfe line search
(``scipy.optimize.line_search``)."""

from __future__ import annotations

from numbers import Real
from typing import Any

import torch
from torch import Tensor

from .._spec import COUNT, POSITIVE, NumberInterval, OptimizerSpec
from ._line_search import FlatOptimizer, HessianProduct, steepest_descent


def truncated_cg(hvp: HessianProduct, g: Tensor, max_iter: int, tol: float) -> Tensor | None:
    """Approximately solve ``H d = -g`` by conjugate gradient, stopping at negative
    curvature (Nocedal & Wright, Algorithm 7.1).

    The residual tolerance ``min(tol, |g|) |g|`` gives quadratic convergence near a
    minimum with a positive definite Hessian (Nocedal & Wright, Theorem 7.2). Two
    guards against rounding, with ``eps`` of ``g``'s dtype: the tolerance is
    ``min(tol, max(|g|, sqrt(eps))) |g|`` (a smaller residual is not resolved by
    products that carry rounding errors; demanding it near a minimum in float32 only
    spends products), and
    a curvature ``p . H p`` at most ``sqrt(eps)`` times the largest ``p . H p / |p|^2``
    seen counts as non-positive (solving along it would divide the rounding noise of
    ``g`` by a curvature near the products' rounding: in float32 a flat direction, such
    as a shift of all softmax intercepts, would take steps of arbitrary length).

    Parameters
    ----------
    hvp : callable
        ``v -> H v``.
    g : Tensor
        The gradient (a vector).
    max_iter : int
        The most CG iterations (Hessian-vector products).
    tol : float
        The forcing term's bound, in (0, 1).

    Returns
    -------
    d : Tensor or None
        The last CG iterate before the stop (a descent direction), or None if the first
        CG direction, ``-g``, already has non-positive curvature.
    """
    g_norm = torch.linalg.vector_norm(g)
    floor = torch.finfo(g.dtype).eps ** 0.5
    tolerance = torch.clamp(g_norm, min=floor, max=tol) * g_norm
    z, r, p = torch.zeros_like(g), g, -g
    rr = r.dot(r)
    scale = torch.zeros_like(rr)  # the largest Rayleigh quotient p.Hp / p.p so far
    for j in range(max_iter):
        Hp = hvp(p)
        curvature, pp = p.dot(Hp), p.dot(p)
        scale = torch.maximum(scale, curvature / pp)
        if curvature <= floor * scale * pp:
            return None if j == 0 else z
        a = rr / curvature
        z = z + a * p
        r = r + a * Hp
        rr_new = r.dot(r)
        if rr_new.sqrt() < tolerance:
            break
        p = -r + (rr_new / rr) * p
        rr = rr_new
    return z


class NewtonOptimizer(FlatOptimizer):
    """The torch optimizer of :class:`~sklearn_iw.solvers.Newton`, which gives the rule
    and the hyperparameters.

    Its closure returns the loss with its autograd graph and does not back-propagate
    (``needs_graph``): the optimizer differentiates it twice.
    """

    needs_graph = True

    def _direction(
        self, x: Tensor, g: Tensor, f: float, state: dict[str, Any], hvp: HessianProduct | None
    ) -> tuple[Tensor, float | None]:
        if hvp is None:  # the restart after a failed search
            return steepest_descent(g, f)
        d = truncated_cg(hvp, g, self.defaults["cg_max_iter"], self.defaults["cg_tol"])
        if d is None:  # negative curvature along -g: no Newton information
            return steepest_descent(g, f)
        return d, None  # a Newton step: try the unit step first


class Newton(OptimizerSpec):
    """Newton's method (Newton-CG) on the full batch, with a strong-Wolfe line search.

    The Newton direction solves ``H_k d_k = -g_k``, where ``H_k`` is the exact Hessian of
    the training objective (L2 penalty included: it adds ``alpha`` on the penalised
    weights' diagonal), approximately, by conjugate gradient from ``d = 0`` until the
    residual ``|H_k d + g_k|`` falls below ``min(cg_tol, |g_k|) |g_k|`` (quadratic
    convergence near a minimum; not below ``sqrt(eps) |g_k|``, the rounding level,
    unless ``cg_tol`` is smaller), ``cg_max_iter`` Hessian-vector products, or a CG
    direction ``p`` with ``p . H_k p <= sqrt(eps) |p|^2`` times the largest curvature seen
    (numerically none or negative: then the CG iterate so far, or ``-g_k`` at
    the first). Then ``w_{k+1} = w_k + alpha_k d_k``, with ``alpha_k`` satisfying the
    strong Wolfe conditions (``c1 = 1e-4``, ``c2 = 0.9``), tried first at ``lr``. This is
    scikit-learn's LogisticRegression ``solver='newton-cg'`` (Nocedal & Wright's
    line-search Newton-CG, Algorithm 7.1), for any model.

    Computed by: ``H_k v`` exactly by ``torch.autograd.grad`` of the gradient (built with
    ``create_graph=True``, a double backward), the truncated CG hand-written in torch on
    the parameters' device, and the line search by ``scipy.optimize.line_search``.
    ``scipy.optimize.minimize(method='Newton-CG')`` could run one iteration per epoch
    (Newton keeps no memory), but its forcing term (``sqrt`` of the gradient's L1 norm)
    converges superlinearly, not quadratically, it moves every product's vectors
    through the host, and it has no guard against the float32 flat directions above;
    the CG is short, and the line search, the part worth reusing, is scipy's. The
    estimators' closure then returns the
    objective with its graph (``needs_graph``); cuDNN's fused LSTM has no double
    backward, so on CUDA the LSTM runs torch's own kernel with this optimizer.

    Parameters
    ----------
    lr : float, default=1.0
        The first trial step of the line search (1: the Newton step), as
        :class:`LBFGS`'s ``lr``; a learning-rate schedule scales it.
    cg_max_iter : int, default=50
        The most conjugate-gradient iterations (Hessian-vector products) per Newton
        direction.
    cg_tol : float, default=0.5
        Bound of the forcing term, in (0, 1): far from a minimum the CG solve stops at
        a residual of ``cg_tol |g_k|`` (cheap, inexact directions: 0.5 as in Nocedal &
        Wright); a small value gives nearly exact Newton steps (fewer, dearer
        iterations).
    max_iter : int, default=1
        Newton iterations per epoch (one ``step`` call), as for :class:`LBFGS`.

    Examples
    --------
    On a quadratic the first Newton step lands on the minimum:

    >>> from sklearn_iw.solvers import Newton, quadratic_iterates
    >>> quadratic_iterates(Newton(), steps=1)
    tensor([[0., 0.]])
    """

    name = "newton"
    full_batch = True
    needs_graph = NewtonOptimizer.needs_graph
    computed_by = "hand-written + torch.autograd.grad + scipy.optimize.line_search"
    optimizer_class = NewtonOptimizer
    _parameter_constraints = {
        "lr": [POSITIVE],
        "cg_max_iter": [COUNT],
        "cg_tol": [NumberInterval(Real, 0, 1, closed="neither")],
        "max_iter": [COUNT],
    }

    def __init__(
        self, lr: float = 1.0, cg_max_iter: int = 50, cg_tol: float = 0.5, max_iter: int = 1
    ):
        self.lr = lr
        self.cg_max_iter = cg_max_iter
        self.cg_tol = cg_tol
        self.max_iter = max_iter

"""Box-constrained convex quadratic programs of importance-weights training steps.

Every importance-weights step solves

.. math::

    \\min_{\\alpha}\\ f(\\alpha) = \\tfrac12 \\alpha^\\top G \\alpha - p^\\top \\alpha
    \\quad \\text{s.t.}\\quad 0 \\le \\alpha_i \\le C_i,

where ``G = J J^T`` is the Gram matrix of the per-sample gradients (symmetric positive
semi-definite, often singular) and ``p`` holds the requested per-sample loss decreases.
It is the dual of the primal problem in the parameter step ``w = J^T alpha``

.. math::

    \\min_w\\ P(w) = \\tfrac12 \\lVert w \\rVert^2 + \\sum_i C_i \\max(0,\\ p_i - (J w)_i),

so for any feasible ``alpha`` the duality gap ``P(J^T alpha) - (-f(alpha))`` equals

.. math::

    \\mathrm{gap}(\\alpha) = \\alpha^\\top G\\alpha - p^\\top\\alpha
        + \\sum_i C_i \\max(0,\\ p_i - (G\\alpha)_i)
      = \\sum_i \\alpha_i\\,[g_i]_+ + (C_i - \\alpha_i)\\,[-g_i]_+ \\ \\ge 0,

with ``g = G alpha - p``: every coordinate contributes its own complementarity violation.

Algorithm (:func:`solve_box_qp`): a monotone projected-Newton method on a growing working
set. Each iteration takes the free variables plus the ``k`` most violating bound variables
(ranked by the decrease a single-coordinate step would give), factorises their Gram block
once and evaluates, in one small batched product, several candidate points: the face
minimiser made feasible primal-dual-active-set style (variables leaving the box are fixed
at the violated bound and the rest re-solved, a few rounds) and the projected Newton arc
``P(alpha + t d)``. The best candidate is taken only if it lowers ``f``; when none does, the
Newton system is damped Levenberg-Marquardt style, which turns the arc into a projected
gradient step and guarantees descent even on singular blocks. Since only the working set
moves, ``G`` is touched through row gathers of the working set, never through full
matrix-vector products, and all vector arithmetic runs in float64 whatever the dtype of
``G`` (float32 Gram matrices are read as they are and upcast row block by row block).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

__all__ = ["BoxQPResult", "box_qp_duality_gap", "solve_box_qp"]

_WORK = torch.float64
# Smallest relative gap a float32 Gram matrix can certify: the returned alpha is rounded to
# float32 (relative error 6e-8) and the gradient terms it perturbs are summed over B samples.
_FP32_TOL_FLOOR = 1e-6
# Step lengths of the projected Newton arc evaluated next to the re-solved face minimiser.
_ARC_STEPS = (1.0, 0.5, 0.25, 0.125, 0.0625)
# Rounds of "fix the variables that left the box, re-solve the rest" per iteration.
_RESOLVE_ROUNDS = 8
# Levenberg-Marquardt damping grows by this factor after an iteration without a full step.
_DAMPING_GROWTH = 100.0
# Smallest extra relative shift tried when an undamped factorisation fails.
_MIN_SHIFT = 1e-12


class BoxQPResult(NamedTuple):
    """Result of :func:`solve_box_qp`.

    Attributes
    ----------
    alpha : torch.Tensor
        Solution, same shape, dtype and device as ``p``. Variables at a bound are exactly
        ``0.0`` or exactly ``C_i``.
    n_iter : int
        Number of working-set Newton iterations (the largest over a batch); ``0`` when
        nothing had to be solved.
    gap : float
        Relative duality gap of ``alpha`` (the largest over a batch), see
        :func:`solve_box_qp`.
    converged : bool
        Whether ``gap`` reached the tolerance (for every problem of a batch).
    """

    alpha: torch.Tensor
    n_iter: int
    gap: float
    converged: bool


def box_qp_duality_gap(
    G: torch.Tensor, p: torch.Tensor, C: float | torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """Absolute duality gap of a feasible point of the box QP.

    Parameters
    ----------
    G : torch.Tensor
        Gram matrix, shape ``(..., B, B)``.
    p : torch.Tensor
        Linear term, shape ``(..., B)``.
    C : float or torch.Tensor
        Upper bounds, broadcastable to ``p``.
    alpha : torch.Tensor
        Point with ``0 <= alpha <= C``, shape ``(..., B)``.

    Returns
    -------
    torch.Tensor
        ``alpha^T G alpha - p^T alpha + sum_i C_i max(0, p_i - (G alpha)_i)`` in float64,
        shape ``(...)``. It is non-negative for feasible ``alpha`` and zero exactly at the
        optima. Samples excluded by :func:`solve_box_qp` are not treated specially: pass
        ``C_i = 0`` for them to get the gap of the restricted problem the solver reports.
    """
    Gw = G.to(_WORK)
    a = alpha.to(device=G.device, dtype=_WORK)
    pw = torch.as_tensor(p, dtype=_WORK, device=G.device)
    Cw = torch.as_tensor(C, dtype=_WORK, device=G.device)
    g = (Gw @ a.unsqueeze(-1)).squeeze(-1) - pw
    return (a * g).sum(-1) + (Cw * (-g).clamp(min=0)).expand_as(g).sum(-1)


def solve_box_qp(
    G: torch.Tensor,
    p: torch.Tensor,
    C: float | torch.Tensor,
    alpha0: torch.Tensor | None = None,
    *,
    tol: float = 1e-8,
    max_iter: int | None = None,
) -> BoxQPResult:
    """Solve ``min 1/2 a^T G a - p^T a`` subject to ``0 <= a_i <= C_i``.

    Parameters
    ----------
    G : torch.Tensor
        Symmetric positive semi-definite Gram matrix, float32 or float64, shape ``(B, B)``
        or batched ``(b, B, B)``, on any device. Singular matrices are fine. Symmetry and
        semi-definiteness are assumed, not checked.
    p : torch.Tensor
        Linear term, shape ``(B,)`` or ``(b, B)``.
    C : float or torch.Tensor
        Non-negative upper bounds: a scalar, or a tensor broadcastable to ``p`` (``C_i = 0``
        pins ``alpha_i`` to 0).
    alpha0 : torch.Tensor, optional
        Warm start, shape of ``p`` (typically the previous solution for the same samples);
        it is clipped into the box.
    tol : float, default=1e-8
        Target relative duality gap. For float32 ``G`` it is raised to at least ``1e-6``:
        the float32 rounding of the returned ``alpha`` alone moves the gap by about that.
    max_iter : int, optional
        Maximum number of working-set Newton iterations per problem; defaults to
        ``100 + B``. Each iteration costs one Cholesky factorisation of the working-set
        block plus a few small re-solves, so the solver always terminates.

    Returns
    -------
    BoxQPResult
        ``alpha`` (dtype and device of ``p``), ``n_iter``, the relative gap and whether it
        reached ``tol``.

    Raises
    ------
    ValueError
        On non-finite entries in ``G``, ``p``, ``C`` or ``alpha0``, a non-square or
        wrongly shaped ``G``, mismatched shapes, negative ``C`` or invalid ``tol`` and
        ``max_iter``.
    TypeError
        If ``G`` is not a float32/float64 tensor.

    Notes
    -----
    *Excluded samples.* A sample whose gradient vanishes (``G_ii <= eps * max_j G_jj`` with
    ``eps`` the machine epsilon of ``G``'s dtype) or whose requested decrease is not
    positive (``p_i <= 0``) cannot be served by the step and gets ``alpha_i = 0``; the
    other variables solve the QP restricted to the servable samples. (For ``p_i <= 0`` this
    can differ from the unrestricted optimum, where other samples may push ``(G alpha)_i``
    below ``p_i``; excluding such samples is the intended semantics.)

    *Stopping rule.* With ``g = G alpha - p``, the primal objective is
    ``P = 1/2 alpha^T G alpha + sum_i C_i max(0, -g_i)`` and the dual one ``-f(alpha)``;
    the reported gap is ``(P + f(alpha)) / P``, the absolute gap of
    :func:`box_qp_duality_gap` (over the servable samples) relative to the primal
    objective, which is positive at any non-trivial problem and equals ``-f`` at the
    optimum. The solver stops once it is at most ``tol``.
    """
    G, p, C_t, alpha0 = _validate(G, p, C, alpha0)
    if not (isinstance(tol, int | float) and math.isfinite(tol) and tol > 0):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    if max_iter is not None and (not isinstance(max_iter, int) or max_iter < 0):
        raise ValueError(f"max_iter must be a non-negative integer, got {max_iter!r}")
    # The iterations run in float64 whatever the dtype of G, so they always aim at tol;
    # only the float32 rounding of the returned alpha calls for a looser acceptance.
    tol_ok = max(tol, _FP32_TOL_FLOOR) if G.dtype == torch.float32 else tol
    batched = G.ndim == 3
    Gb = G if batched else G.unsqueeze(0)
    pb = p if batched else p.unsqueeze(0)
    Cb = C_t.expand_as(pb)
    a0b = None if alpha0 is None else (alpha0 if batched else alpha0.unsqueeze(0))
    B = pb.shape[-1]
    limit = 100 + B if max_iter is None else max_iter
    alphas, iters, gaps = [], [], []
    # Inference mode trims the per-operation overhead that dominates small problems; the
    # results are cloned outside it so that callers may use them in autograd graphs.
    with torch.inference_mode():
        # Problems of a batch have different working sets, hence different block sizes:
        # they are solved one after the other (each one fully vectorised).
        for i in range(pb.shape[0]):
            x, n_it, rel = _solve_one(
                Gb[i], pb[i], Cb[i], None if a0b is None else a0b[i], tol, limit
            )
            alpha = x.to(p.dtype)
            if alpha.dtype != x.dtype:
                # Report the gap of what is returned, not of its float64 ancestor.
                rel = _relative_gap(Gb[i], pb[i], Cb[i], alpha)
            alphas.append(alpha)
            iters.append(n_it)
            gaps.append(rel)
        alpha = torch.stack(alphas) if alphas else pb.new_zeros(pb.shape)
    alpha = alpha.clone()
    if not batched:
        alpha = alpha.squeeze(0)
    gap = max(gaps, default=0.0)
    return BoxQPResult(alpha=alpha, n_iter=max(iters, default=0), gap=gap, converged=gap <= tol_ok)


def _validate(
    G: torch.Tensor,
    p: torch.Tensor,
    C: float | torch.Tensor,
    alpha0: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Check shapes and values; return ``p``, ``C`` and ``alpha0`` as tensors like ``G``."""
    if not isinstance(G, torch.Tensor) or G.dtype not in (torch.float32, torch.float64):
        raise TypeError("G must be a float32 or float64 torch.Tensor")
    if G.ndim not in (2, 3):
        raise ValueError(f"G must have shape (B, B) or (b, B, B), got {tuple(G.shape)}")
    if G.shape[-1] != G.shape[-2]:
        raise ValueError(f"G must be square, got shape {tuple(G.shape)}")
    like = {"dtype": G.dtype, "device": G.device}
    # A Python float must not pass through float32 on its way to a float64 problem.
    p = torch.as_tensor(p, **like)
    if p.shape != G.shape[:-1]:
        raise ValueError(f"p must have shape {tuple(G.shape[:-1])}, got {tuple(p.shape)}")
    C_t = torch.as_tensor(C, **like)
    try:
        torch.broadcast_shapes(C_t.shape, p.shape)
    except RuntimeError:
        raise ValueError(
            f"C must be a scalar or broadcastable to {tuple(p.shape)}, got {tuple(C_t.shape)}"
        ) from None
    if C_t.ndim > p.ndim:
        raise ValueError(f"C must be broadcastable to {tuple(p.shape)}, got {tuple(C_t.shape)}")
    if alpha0 is not None:
        alpha0 = torch.as_tensor(alpha0, **like)
        if alpha0.shape != p.shape:
            raise ValueError(
                f"alpha0 must have shape {tuple(p.shape)}, got {tuple(alpha0.shape)}"
            )
    # A sum is finite exactly when no entry is NaN or infinite, unless it overflows: one
    # cheap pass (and one host synchronisation) instead of an elementwise test per tensor.
    tensors = {"G": G, "p": p, "C": C_t}
    if alpha0 is not None:
        tensors["alpha0"] = alpha0
    sums = torch.stack([t.sum(dtype=torch.float64) for t in tensors.values()])
    ok = torch.isfinite(sums).tolist() + [bool((C_t >= 0).all())]
    for (name, t), flag in zip(tensors.items(), ok, strict=False):
        if not flag and not bool(torch.isfinite(t).all()):
            raise ValueError(f"{name} contains NaN or infinite values")
    if not ok[-1]:
        raise ValueError("C must be non-negative")
    return G, p, C_t, alpha0


def _bounds(
    G: torch.Tensor, p: torch.Tensor, C: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Float64 ``(diag G, p, u)`` with ``u = C`` on servable samples and 0 elsewhere."""
    dG = G.diagonal().to(_WORK)
    pw = p.to(_WORK)
    servable = (dG > torch.finfo(G.dtype).eps * dG.max()) & (pw > 0)
    return dG, pw, torch.where(servable, C.to(_WORK), 0.0)


def _relative_gap(G: torch.Tensor, p: torch.Tensor, C: torch.Tensor, alpha: torch.Tensor) -> float:
    """Relative duality gap of ``alpha`` for the QP over the servable samples."""
    if p.numel() == 0:
        return 0.0
    _, pw, u = _bounds(G, p, C)
    x = alpha.to(_WORK)
    g = _gradient(G, x, pw)
    xg, ug, xp = torch.stack([x @ g, u @ g.clamp(max=0), x @ pw]).tolist()
    primal = 0.5 * (xg + xp) - ug
    return (xg - ug) / primal if primal > 0 else 0.0


def _gradient(G: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``G x - p`` in float64 from the rows of the support of ``x`` only."""
    support = x.nonzero().squeeze(1)
    rows = G.index_select(0, support).to(_WORK)
    return torch.addmv(-p, rows.t(), x.index_select(0, support))


def _solve_one(
    G: torch.Tensor,
    p: torch.Tensor,
    C: torch.Tensor,
    alpha0: torch.Tensor | None,
    tol: float,
    max_iter: int,
) -> tuple[torch.Tensor, int, float]:
    """Solve one (unbatched) problem in float64; return ``(alpha, n_iter, rel_gap)``."""
    B = p.shape[0]
    dev = G.device
    dG, pw, u = _bounds(G, p, C)
    servable = u > 0
    if alpha0 is None:
        x = torch.zeros(B, dtype=_WORK, device=dev)
    else:
        x = torch.minimum(alpha0.to(_WORK).clamp(min=0), u)
    if B == 0 or not bool(servable.any()):
        return x, 0, 0.0

    inv_dG = torch.where(servable, 1.0 / dG, 0.0)
    # Working-set growth: enough samples per round to reach a typical support in a few
    # rounds, few enough that the first blocks stay cheap to factorise.
    k_min = max(16, B // 16)
    shift0 = 4 * B * torch.finfo(_WORK).eps
    shift = shift0
    steps = torch.tensor(_ARC_STEPS, dtype=_WORK, device=dev)
    g = _gradient(G, x, pw)
    fresh = True  # g was recomputed from scratch, not updated incrementally
    n_iter = 0
    while True:
        # gap = x.g + u.[-g]_+ (the per-coordinate sum of the module docstring, regrouped)
        # and primal = (x.g + x.p) / 2 + u.[-g]_+; one host round trip for all decisions.
        at_lo = x <= 0
        at_hi = x >= u
        inside = ~(at_lo | at_hi)
        viol = torch.where(g < 0, at_lo, at_hi & (g > 0)) & servable
        xg, ug, xp, n_viol, n_inside = torch.stack(
            [x @ g, u @ g.clamp(max=0), x @ pw, viol.sum(), inside.sum()]
        ).tolist()
        gap = xg - ug
        primal = 0.5 * (xg + xp) - ug
        rel = gap / primal if primal > 0 else 0.0
        if rel <= tol:
            if fresh:
                break
            # Incremental updates drift by rounding: certify with an exact gradient.
            g = _gradient(G, x, pw)
            fresh = True
            continue
        k = min(int(n_viol), max(k_min, int(n_inside)))
        if n_iter >= max_iter or k + n_inside == 0:
            break
        n_iter += 1
        work = inside
        if k:
            # Rank violators by |g_i| times the length of their best single-coordinate
            # step: the gain of that step, up to a factor of at most 2.
            ga = g.abs()
            score = torch.where(viol, ga * torch.minimum(ga * inv_dG, u), -1.0)
            work = work.index_fill(0, score.topk(k).indices, True)
        idx = work.nonzero().squeeze(1)
        rows = G.index_select(0, idx).to(_WORK)
        H = rows.t().index_select(0, idx)
        xw = x.index_select(0, idx)
        moved, df, best = _step(H, xw, g.index_select(0, idx), u.index_select(0, idx),
                                shift, shift0, steps)
        if df < 0:
            x.index_copy_(0, idx, moved)
            g.addmv_(rows.t(), moved - xw)
            fresh = False
            # Levenberg-Marquardt: relax the damping after a full step, raise it after a
            # step the arc search had to shorten.
            if best <= 1:
                shift = max(shift0, shift / _DAMPING_GROWTH)
            else:
                shift = min(shift * _DAMPING_GROWTH, 10.0 * idx.numel())
        elif shift >= 10.0 * idx.numel():
            # Not even a projected-gradient-sized step lowers f: the rounding floor.
            break
        else:
            shift = min(shift * _DAMPING_GROWTH, 10.0 * idx.numel())
    return x, n_iter, rel


def _step(
    H: torch.Tensor,
    x: torch.Tensor,
    g: torch.Tensor,
    u: torch.Tensor,
    shift: float,
    shift0: float,
    steps: torch.Tensor,
) -> tuple[torch.Tensor, float, int]:
    """Best candidate step on the working set.

    The candidates are the re-solved face minimiser (only when the Newton system is
    undamped) and the projected Newton arc ``P(x + t d)``. Returns the chosen point, its
    objective change ``f(new) - f(x)`` (computed from the step, not by subtracting
    objective values, so that it stays accurate near the optimum) and its column (0 for the
    face point, ``1 + j`` for arc step ``j``).
    """
    scale = H.diagonal().max().clamp(min=torch.finfo(H.dtype).tiny)
    # H is a private gather: shift it in place for the undamped factorisation and the
    # re-solves (the off-diagonal blocks they read are unaffected), restore it after.
    reg = scale * shift0
    H.diagonal().add_(reg)
    L = _factor(H, scale, shift - shift0)
    d = _chol_solve(L, g).neg_()
    if shift == shift0:
        face = _resolve(H, torch.addmv(g, H, x, beta=-1.0), u, x + d)
        H.diagonal().sub_(reg)
        step = face - x
        df = float(step @ torch.addmv(g, H, step, alpha=0.5))
        if df < 0:
            return face, df, 0
    else:
        H.diagonal().sub_(reg)
    # The re-solved face point did not help (or the system is damped): search the
    # projected arc P(x + t d). Along it f is piecewise quadratic with kinks where
    # variables reach a bound, so besides a few fixed step lengths the search tries the
    # kinks themselves; on singular blocks the Newton direction is huge along the null
    # space and the useful steps are these tiny breakpoints, at any scale.
    kinks = torch.where(d > 0, (u - x) / d, torch.where(d < 0, -x / d, math.inf))
    kinks = torch.sort(kinks).values.index_select(0, _kink_picks(x.numel(), x.device))
    ts = torch.cat([steps, kinks.clamp(max=1.0)])
    arc = torch.addr(x.unsqueeze(1).expand(-1, ts.numel()), d, ts)
    X = torch.clamp(arc, min=torch.zeros_like(arc), max=u.unsqueeze(1))
    D = X - x.unsqueeze(1)
    dfs = (D * torch.addmm(g.unsqueeze(1), H, D, alpha=0.5)).sum(0)
    # A failed factorisation shows up as NaN here; such candidates are never chosen.
    val, col = torch.min(torch.nan_to_num(dfs, nan=math.inf), 0)
    val, col = torch.stack([val, col.to(val.dtype)]).tolist()
    col = int(col)
    return X[:, col], val, col + 1


def _kink_picks(m: int, device: torch.device) -> torch.Tensor:
    """Ranks of the breakpoints tried by the arc search: the first eight, then every
    breakpoint of rank ``~1.4^j``, so that any scale of the path is sampled."""
    ranks = sorted({min(r, m - 1) for r in range(8)} | {min(int(8 * 1.4**j), m - 1) for j in range(24)})
    return torch.tensor(ranks, device=device)


def _factor(H: torch.Tensor, scale: torch.Tensor, shift: float) -> torch.Tensor:
    """Cholesky factor of ``H + shift * scale * I``, the shift raised until it succeeds.

    A positive semi-definite block can be numerically indefinite by a few ulps of its
    largest entry; a shift relative to the largest diagonal entry ``scale`` absorbs that.
    """
    while True:
        if shift > 0:
            Hs = H.clone()
            Hs.diagonal().add_(scale * shift)
        else:
            Hs = H
        L, info = torch.linalg.cholesky_ex(Hs)
        if shift >= 1.0 or info.item() == 0:
            return L
        shift = min(1.0, max(shift, _MIN_SHIFT) * _DAMPING_GROWTH)


def _chol_solve(L: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve ``L L^T y = b`` (two triangular solves beat ``cholesky_solve`` on small blocks)."""
    z = torch.linalg.solve_triangular(L, b.unsqueeze(1), upper=False)
    return torch.linalg.solve_triangular(L.mT, z, upper=True).squeeze(1)


def _resolve(H: torch.Tensor, rhs: torch.Tensor, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Make the face minimiser ``y`` of ``H y = rhs`` feasible, primal-dual active-set style.

    Variables of ``y`` outside ``[0, u]`` are fixed at the bound they cross and the face
    system is re-solved for the others, for a few rounds. Fixed variables sit exactly on a
    bound, so they never count as outside again.
    """
    zero = torch.zeros_like(u)
    free = torch.ones_like(u, dtype=torch.bool)
    for _ in range(_RESOLVE_ROUNDS):
        clipped = torch.clamp(y, min=zero, max=u)
        stay = clipped == y
        if stay.all().item():
            return y
        y = clipped
        free &= stay
        A = free.nonzero().squeeze(1)
        if A.numel() == 0:
            return y
        HA = H.index_select(0, A)
        b = torch.addmv(rhs.index_select(0, A), HA, y.masked_fill(free, 0.0), alpha=-1.0)
        # Rows of the transpose: a faster gather than columns, and H is symmetric.
        L, _ = torch.linalg.cholesky_ex(HA.t().index_select(0, A))
        y = y.index_copy(0, A, _chol_solve(L, b))
    return torch.clamp(y, min=zero, max=u)

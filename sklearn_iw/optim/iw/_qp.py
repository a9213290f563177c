"""Box-constrained convex quadratic programs of importance-weights training steps.

Every importance-weights step solves

    min_a  f(a) = 1/2 a^T G a - p^T a   subject to  0 <= a_i <= C_i,

where ``G = J J^T`` is the Gram matrix of the per-sample gradients (symmetric positive
semi-definite, often singular) and ``p`` holds the requested per-sample loss decreases.
It is the dual of the primal problem in the parameter step ``w = J^T a``,

    min_w  P(w) = 1/2 ||w||^2 + sum_i C_i max(0, p_i - (J w)_i),

so for a feasible ``a``, with ``g = G a - p``, the duality gap ``P(J^T a) - (-f(a))`` is

    gap(a) = a^T G a - p^T a + sum_i C_i max(0, -g_i)
           = sum_i  a_i max(0, g_i) + (C_i - a_i) max(0, -g_i)  >=  0:

each coordinate contributes its own violation of the optimality conditions.

Method (:func:`solve_box_qp`). A monotone working-set Newton iteration. Each iteration
takes the free variables plus the ``k`` most violated bound variables (largest ``|g_i|``),
gathers their rows of ``G`` and factorises the block once. The candidate step is
the minimiser over that face made feasible primal-dual-active-set style: variables that
leave the box are fixed at the bound they cross and the others re-solved, for a few rounds
(with a stronger proximal term if that fails, as it does on nearly singular faces). It is
taken when it lowers ``f``; otherwise the projected Newton arc ``P(a + t d)`` is searched
at a few fixed steps, at the classical ratio-test step and at its breakpoints, which always
yields descent; only if rounding spoils even that is the Newton system damped
(Levenberg-Marquardt). Where the iteration stagnates (degenerate problems with many more
free variables than the rank of ``G``), a Mehrotra interior-point method solves the
working set, then if need be the whole problem, and the Newton iteration polishes its
answer into exact bounds.

Small CPU problems (``method='auto'``, :func:`_small_solution`) are solved first in float64
numpy, where a few hundred tensor operations would cost more than the arithmetic: a
primal-dual active-set iteration; where ``G`` is rank-deficient (a batch larger than the
model's parameter count, duplicated samples), an interior-point method in the space of a
pivoted-Cholesky factor ``G = F F^T`` with an exact active-set finish (:func:`_low_rank`);
then daqp. Each is certified by the same relative gap.

Only rows of ``G`` are read, those of working sets and supports (no full matrix-vector
products), and all the arithmetic runs in float64 whatever the dtype of ``G``: float32 Gram
matrices are upcast one row block at a time.
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import NamedTuple, Protocol, runtime_checkable

import daqp
import numpy as np
import scipy.linalg
import torch
from sklearn.exceptions import ConvergenceWarning

__all__ = ["BoxQPResult", "GramOperator", "box_qp_duality_gap", "solve_box_qp"]


@runtime_checkable
class GramOperator(Protocol):
    """A symmetric positive semi-definite matrix the solver reads by rows.

    What :func:`solve_box_qp` needs of a Gram matrix it should not materialise (such as
    :class:`~sklearn_iw.solvers.GramRows`, whose rows are computed when first read): its
    shape, dtype and device, its diagonal, and rows by index (``dim=0`` only).
    """

    shape: torch.Size
    dtype: torch.dtype
    device: torch.device
    ndim: int

    def diagonal(self) -> torch.Tensor:
        """Return the (B,) diagonal."""

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        """Return the rows ``index`` (``dim`` must be 0), shape ``(len(index), B)``."""


_WORK = torch.float64
# Smallest tolerance a float32 problem can certify: rounding the float64 solution to
# float32 (relative error 6e-8) already moves the relative gap of real Gram matrices,
# whose rows cancel strongly, by about 1e-5.
_FP32_TOL_FLOOR = 1e-4
_MAX_ITER = 300
# Fixed step lengths of the projected Newton arc search (its breakpoints come on top).
_ARC_STEPS = (1.0, 0.5, 0.25, 0.125, 0.0625)
# Ranks of the breakpoints tried by the arc search: the first eight, then geometrically
# spaced ones, so that the path is sampled at every scale.
_KINK_RANKS = tuple(range(8)) + tuple(int(8 * 1.4**j) for j in range(24))
# Rounds of "fix the variables that left the box, re-solve the rest" per iteration.
_RESOLVE_ROUNDS = 8
# Levenberg-Marquardt: damping factor per rejected step, and the first non-zero damping
# (relative to the largest diagonal entry) tried when a factorisation fails.
_DAMPING_GROWTH = 100.0
_MIN_SHIFT = 1e-12
# Stronger proximal shifts tried for the face point when the plain one fails.
_PROXIMAL_SHIFTS = (1e-6, 1e-3)
# The interior-point fallback (at most twice per problem: on the working set, then on the
# whole problem) starts when the gap has not halved over this many iterations (from twice
# this many on), after six times this many iterations, or when five of the last eight face
# points were rejected.
_STALL_WINDOW = 10
_IPM_MAX_ITER = 100
_MAX_FALLBACKS = 2
# Largest problem solved by daqp first with method='auto': dense active-set pivots cost
# O(B^3); at B = 200 daqp took 2.7 ms where the Newton iteration took 2.4 ms (problems
# recorded from a digits MLP fit, one thread). Raised to 256, the digits accuracy tests of
# importance weights (batch 200) took 120-135 s instead of ~15 s; the rank-deficient
# Gram matrices of linear regression are where daqp wins (0.08 s a step against 0.86 s).
_ACTIVE_SET_MAX = 128
# Largest problem solved in float64 numpy first with method='auto' (:func:`_pdas`, whose
# factorisations cost O(n^3) but no tensor operations), and its iteration limit.
_SMALL_MAX = 256
# Largest problem given by rows (a GramOperator) that the active-set iteration takes first
# with method='auto': it reads the rows of its supports and faces only. Default MLP(100)
# fits, one thread, against the Newton iteration (run alternately): full batches of
# breast cancer (455) 0.46 s against 0.55 s, of all digits (1347) 3.2 s against 4.9 s;
# batches of 512 of 200,000 x 20 rows, 2 epochs, 8.3-9.5 s against 12.9-14.2 s.
_ROWS_MAX = 2048
# Largest rank-deficient problem (G of rank at most B/2) the low-rank path takes: its
# dense float64 G is at most 300 MB.
_LOW_RANK_MAX = 6144
_PDAS_MAX_ITER = 30
# The low-rank path (:func:`_low_rank`): interior-point iterations in the factor's space,
# and the active-set rounds of the exact finish tried from each of them.
_LOW_RANK_IPM_MAX_ITER = 60
_LOW_RANK_FINISH_ROUNDS = 12
_LAPACK_POTRF, _LAPACK_POTRS = scipy.linalg.lapack.dpotrf, scipy.linalg.lapack.dpotrs
_LAPACK_PSTRF = scipy.linalg.lapack.dpstrf
_EPS64 = float(np.finfo(np.float64).eps)


class BoxQPResult(NamedTuple):
    """Result of :func:`solve_box_qp`.

    Attributes
    ----------
    alpha : torch.Tensor
        Solution, same shape, dtype and device as ``p``. Variables at a bound are exactly
        ``0.0`` or exactly ``C_i``.
    n_iter : int
        Iterations (working-set Newton plus interior-point ones), the largest over a
        batch; ``0`` when nothing had to be solved.
    gap : float
        Relative duality gap of ``alpha``, the largest over a batch (see
        :func:`solve_box_qp`).
    converged : bool
        Whether ``gap`` reached the tolerance, for every problem of a batch.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import solve_box_qp
    >>> G = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> result = solve_box_qp(G, torch.ones(2, dtype=torch.float64), C=0.2)
    >>> result.alpha, result.converged
    (tensor([0.2000, 0.2000], dtype=torch.float64), True)
    >>> alpha, n_iter, gap, converged = result  # a named tuple
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
        shape ``(...)``: non-negative for feasible ``alpha``, zero exactly at the optima.
        Samples that :func:`solve_box_qp` excludes get no special treatment; pass
        ``C_i = 0`` for them to get the gap of the problem the solver reports on.

    Examples
    --------
    >>> import torch
    >>> from sklearn_iw.solvers import box_qp_duality_gap
    >>> G = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> p = torch.ones(2, dtype=torch.float64)
    >>> box_qp_duality_gap(G, p, 1.0, torch.zeros(2, dtype=torch.float64))
    tensor(2., dtype=torch.float64)
    >>> box_qp_duality_gap(G, p, 1.0, torch.full((2,), 1 / 3, dtype=torch.float64))
    tensor(0., dtype=torch.float64)
    """
    Gw = G.to(_WORK)
    a = alpha.to(device=G.device, dtype=_WORK)
    pw = torch.as_tensor(p, dtype=_WORK, device=G.device)
    Cw = torch.as_tensor(C, dtype=_WORK, device=G.device)
    g = (Gw @ a.unsqueeze(-1)).squeeze(-1) - pw
    return (a * g).sum(-1) + (Cw * g.clamp(max=0)).sum(-1).neg()


def solve_box_qp(
    G: torch.Tensor | GramOperator,
    p: torch.Tensor,
    C: float | torch.Tensor,
    alpha0: torch.Tensor | None = None,
    *,
    tol: float = 1e-8,
    max_iter: int | None = None,
    method: str = "newton",
    check_input: bool = True,
) -> BoxQPResult:
    """Solve ``min 1/2 a^T G a - p^T a`` subject to ``0 <= a_i <= C_i``.

    Parameters
    ----------
    G : torch.Tensor or GramOperator
        Symmetric positive semi-definite Gram matrix, float32 or float64, shape ``(B, B)``
        or batched ``(b, B, B)``, on any device. Singular matrices are fine; symmetry and
        semi-definiteness are assumed, not checked. A :class:`GramOperator` (unbatched,
        such as :class:`~sklearn_iw.solvers.GramRows`) has only the rows the solver reads
        computed.
    p : torch.Tensor
        Linear term, shape ``(B,)`` or ``(b, B)``.
    C : float or torch.Tensor
        Non-negative finite upper bounds: a scalar or a tensor broadcastable to ``p``
        (``C_i = 0`` pins ``a_i`` to 0).
    alpha0 : torch.Tensor, optional
        Warm start of the shape of ``p``, typically the previous solution for the same
        samples; it is clipped into the box.
    tol : float, default=1e-8
        Target relative duality gap. With a float32 ``G`` the result counts as converged
        up to ``max(tol, 1e-4)``: the iterations still aim at ``tol`` in float64, but
        rounding ``alpha`` to float32 moves the gap of real Gram matrices by ~1e-5.
    max_iter : int, optional
        Maximum number of iterations per problem, default 300 (Gram matrices of real
        gradients need about 10, warm-started 2-5; degenerate problems up to about 100,
        interior-point ones included). Every iteration costs one factorisation, of a
        working-set block or for interior-point ones of the servable block at most, so
        the solver always terminates. A problem that reaches the limit above the
        tolerance returns its last iterate, feasible and the best so far (iterations
        only lower the objective), with a ``ConvergenceWarning``.
    method : {'newton', 'auto'}, default='newton'
        'newton': the working-set Newton iteration of the module docstring. 'auto': an
        unbatched CPU problem of at most 256 samples (2048 given as a
        :class:`GramOperator`, of which it reads the rows of its supports and faces) is
        solved in float64 numpy, by a primal-dual active-set iteration from the warm
        start (one Cholesky factorisation of the free face per iteration); where that
        fails and ``G`` has numerical rank ``r`` below its size (more samples than
        parameters), by an interior-point method whose Newton systems are ``r x r`` (a
        pivoted-Cholesky factor of ``G``) followed by an exact face solve; else, for at
        most 128 servable samples, by the compiled dual active-set solver daqp; where
        none certifies ``tol`` the Newton iteration polishes daqp's point or starts
        afresh. The same stopping rule and exact bounds.
        On random rank-deficient problems (B = 200, rank 3 to 20, from scratch) the
        low-rank path took 1.2 ms (median) where the Newton iteration took 11 ms (5 to
        21 ms), and on those of a linear regression fit (B = 200, rank 11) 4.5 ms per
        step against 26 ms (one loaded CPU thread). On problems recorded from a digits
        MLP fit (one CPU thread) it took 0.15 / 0.48 / 0.88 ms at B = 32 / 100 / 200
        where the Newton iteration took 0.63 / 1.5 / 1.9 ms, and daqp 0.9 ms against
        12.6 ms on an LSTM's rank-deficient Gram (B = 50). Larger, batched and GPU
        problems take the Newton iteration.
    check_input : bool, default=True
        Check shapes, dtypes and finiteness, and convert ``C`` and ``alpha0`` to tensors.
        A caller that passes tensors known to be valid (``p``, a tensor ``C`` and
        ``alpha0`` of the dtype and device of ``G``, all finite) may skip it: at
        ``B = 200`` the checks cost a fifth of a warm-started solve.

    Returns
    -------
    BoxQPResult
        ``alpha`` (dtype and device of ``p``), ``n_iter``, the relative gap ``gap`` of the
        returned ``alpha`` and ``converged``.

    Raises
    ------
    TypeError
        If ``G`` is not a float32 or float64 tensor.
    ValueError
        On NaN or infinite entries in ``G``, ``p``, ``C`` or ``alpha0``, a non-square
        ``G``, mismatched shapes, a negative ``C`` or an invalid ``tol`` or ``max_iter``.

    Notes
    -----
    *Excluded samples.* A sample without gradient (``G_ii <= eps * max_j G_jj``, ``eps``
    the machine epsilon of the dtype of ``G``) or without requested decrease (``p_i <=
    0``) cannot be served by the step: it gets ``alpha_i = 0`` and the other variables
    solve the QP restricted to the servable samples. For ``p_i <= 0`` this can differ from
    the optimum of the unrestricted QP, where the other samples may push ``(G a)_i`` below
    ``p_i`` and make ``a_i > 0`` pay; excluding such samples is the intended semantics.

    *Stopping rule.* With ``g = G a - p`` over the servable samples, the reported gap is
    ``(P - D) / P`` with the primal objective ``P = 1/2 a^T G a + sum_i C_i max(0, -g_i)``
    and the dual one ``D = -f(a)``: the absolute gap of :func:`box_qp_duality_gap`
    relative to ``P``, which is positive on every problem with a servable sample and tends
    to ``-f`` at the optimum. It is computed in float64 on the returned ``alpha``.

    *Batches* are solved one problem after the other, since their working sets differ.

    Examples
    --------
    The importance weights of two samples whose gradients overlap:

    >>> import torch
    >>> from sklearn_iw.solvers import solve_box_qp
    >>> G = torch.tensor([[2.0, 1.0], [1.0, 2.0]], dtype=torch.float64)
    >>> p = torch.tensor([1.0, 1.0], dtype=torch.float64)
    >>> result = solve_box_qp(G, p, C=1.0)
    >>> result.alpha
    tensor([0.3333, 0.3333], dtype=torch.float64)
    >>> result.converged
    True

    A tight bound ``C`` and a warm start (the previous solution of the same samples):

    >>> solve_box_qp(G, p, C=0.2, alpha0=result.alpha).alpha
    tensor([0.2000, 0.2000], dtype=torch.float64)

    A Gram matrix of real per-sample gradients, float32 as during training:

    >>> J = torch.randn(100, 20, generator=torch.Generator().manual_seed(0))
    >>> result = solve_box_qp(J @ J.T, torch.full((100,), 0.1), C=1.0)
    >>> result.alpha.dtype, result.converged
    (torch.float32, True)
    >>> bool((result.alpha == 0).any())  # exact zeros: inactive samples
    True
    """
    if check_input:
        G, p, C_t, alpha0 = _validate(G, p, C, alpha0)
    else:
        C_t = C
    if isinstance(tol, bool) or not (isinstance(tol, int | float) and 0 < tol < math.inf):
        raise ValueError(f"tol must be a positive finite number, got {tol!r}")
    if max_iter is not None and (
        isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0
    ):
        raise ValueError(f"max_iter must be a non-negative integer, got {max_iter!r}")
    if method not in ("newton", "auto"):
        raise ValueError(f"method must be 'newton' or 'auto', got {method!r}")
    limit = _MAX_ITER if max_iter is None else max_iter
    tol_ok = max(tol, _FP32_TOL_FLOOR) if G.dtype == torch.float32 else tol
    batched = G.ndim == 3
    start = None
    if method == "auto" and not batched and G.device.type == "cpu" and limit > 0:
        B = p.shape[0]
        rank = getattr(G, "rank_bound", None)
        # More samples than parameters: G has rank below B, and the low-rank path's
        # interior point costs O(B r^2) where the large path's Newton systems are B x B.
        rank_deficient = rank is not None and _SMALL_MAX < B <= _LOW_RANK_MAX and 2 * rank <= B
        read_by_rows = not isinstance(G, torch.Tensor) and B <= _ROWS_MAX
        if 0 < B <= _SMALL_MAX or rank_deficient or read_by_rows:
            # Solved in float64 numpy, without tensor operations (a few hundred of them
            # cost more than the whole solve at these sizes).
            small = _small_solution(G, p, C_t, alpha0, tol, rank_deficient)
            if small.certified:
                gap = float(small.gap)
                return BoxQPResult(small.alpha, 1, gap, gap <= tol_ok)
            start = small.start
    Gb = G.unbind(0) if batched else (G,)
    pb = p if batched else p.unsqueeze(0)
    Cb = C_t.expand_as(pb)
    a0b = None if alpha0 is None else (alpha0 if batched else alpha0.unsqueeze(0))
    alphas, iters, gaps = [], [], []
    # Inference mode trims the per-operation overhead that dominates small problems; the
    # result is cloned outside it so that callers may use it in autograd graphs.
    with torch.inference_mode():
        for i in range(pb.shape[0]):
            x, n_it, rel = _solve_one(
                Gb[i], pb[i], Cb[i], None if a0b is None else a0b[i], tol, limit, start
            )
            alphas.append(x.to(p.dtype))
            iters.append(n_it)
            gaps.append(rel)
        if not batched:
            alpha = alphas[0]
        else:
            alpha = torch.stack(alphas) if alphas else pb.new_zeros(pb.shape)
    alpha = alpha.clone()
    gap = max(gaps, default=0.0)
    if any(n >= limit and rel > tol_ok for n, rel in zip(iters, gaps, strict=True)):
        warnings.warn(
            f"solve_box_qp reached its iteration limit (max_iter={limit}) at a relative "
            f"duality gap of {gap:.1e} > tol={tol_ok:.1e}; alpha is the best feasible point "
            "found (every iteration lowers the objective). Raise max_iter or tol.",
            ConvergenceWarning,
            stacklevel=2,
        )
    return BoxQPResult(alpha, max(iters, default=0), gap, gap <= tol_ok)


def _validate(
    G: torch.Tensor | GramOperator,
    p: torch.Tensor,
    C: float | torch.Tensor,
    alpha0: torch.Tensor | None,
) -> tuple[torch.Tensor | GramOperator, torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Check shapes and values; return ``p``, ``C`` and ``alpha0`` as tensors like ``G``."""
    if not isinstance(G, torch.Tensor | GramOperator) or G.dtype not in (
        torch.float32,
        torch.float64,
    ):
        raise TypeError("G must be a float32 or float64 torch.Tensor or GramOperator")
    if G.ndim not in (2, 3):
        raise ValueError(f"G must have shape (B, B) or (b, B, B), got {tuple(G.shape)}")
    if G.shape[-1] != G.shape[-2]:
        raise ValueError(f"G must be square, got shape {tuple(G.shape)}")
    # Convert straight to G's dtype: a Python float must not pass through float32 on its
    # way to a float64 problem.
    like = {"dtype": G.dtype, "device": G.device}
    p = torch.as_tensor(p, **like)
    if p.shape != G.shape[:-1]:
        raise ValueError(f"p must have shape {tuple(G.shape[:-1])}, got {tuple(p.shape)}")
    C_t = torch.as_tensor(C, **like)
    if C_t.ndim > p.ndim or any(
        c not in (1, n) for c, n in zip(reversed(C_t.shape), reversed(p.shape), strict=False)
    ):
        raise ValueError(
            f"C must be a scalar or broadcastable to {tuple(p.shape)}, got {tuple(C_t.shape)}"
        )
    if alpha0 is not None:
        alpha0 = torch.as_tensor(alpha0, **like)
        if alpha0.shape != p.shape:
            raise ValueError(f"alpha0 must have shape {tuple(p.shape)}, got {tuple(alpha0.shape)}")
    # A sum is finite exactly when no entry is NaN or infinite, unless it overflows: one
    # pass and one host synchronisation, with the elementwise tests only to confirm.
    # A Gram matrix is finite where its diagonal is (|G_ij| <= sqrt(G_ii G_jj)): rows on
    # demand are checked through their diagonal.
    tensors = {"G": G if isinstance(G, torch.Tensor) else G.diagonal(), "p": p, "C": C_t}
    if alpha0 is not None:
        tensors["alpha0"] = alpha0
    if G.device.type == "cpu":  # numpy's reductions cost a fraction of torch's dispatch
        arrays = [t.detach().numpy() for t in tensors.values()]
        finite = bool(np.isfinite(sum(float(a.sum()) for a in arrays)))
        nonneg = bool((arrays[2] >= 0).all())
    else:
        total = sum(t.sum() for t in tensors.values())
        finite, nonneg = torch.stack([total.isfinite(), (C_t >= 0).all()]).tolist()
    if not finite:
        for name, t in tensors.items():
            if not bool(torch.isfinite(t).all()):
                raise ValueError(f"{name} contains NaN or infinite values")
    if not nonneg:
        raise ValueError("C must be non-negative")
    return G, p, C_t, alpha0


def _bounds(G: torch.Tensor, p: torch.Tensor, C: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Float64 ``(p, u)`` with ``u = C`` on servable samples and 0 elsewhere."""
    dG = G.diagonal().to(_WORK)
    pw = p.to(_WORK)
    servable = (dG > torch.finfo(G.dtype).eps * dG.max()) & (pw > 0)
    return pw, torch.where(servable, C.to(_WORK), 0.0)


def _gradient(G: torch.Tensor, x: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """``G x - p`` in float64 from the rows of the support of ``x`` only."""
    support = x.nonzero().squeeze(1)
    rows = G.index_select(0, support).to(_WORK)
    return torch.addmv(-p, rows.t(), x.index_select(0, support))


def _gap_terms(
    x: torch.Tensor, g: torch.Tensor, p: torch.Tensor, u: torch.Tensor
) -> list[torch.Tensor]:
    """``[x.g, u.min(g, 0), x.p]``: the gap is ``x.g - u.min(g, 0)`` (the per-coordinate
    sum of the module docstring, regrouped) and the primal objective
    ``(x.g + x.p) / 2 - u.min(g, 0)``."""
    return [x @ g, u @ g.clamp(max=0), x @ p]


def _relative(xg: float, ug: float, xp: float) -> float:
    """Relative gap from the values of :func:`_gap_terms`."""
    primal = 0.5 * (xg + xp) - ug
    return (xg - ug) / primal if primal > 0 else 0.0


def _solve_one(
    G: torch.Tensor,
    p: torch.Tensor,
    C: torch.Tensor,
    alpha0: torch.Tensor | None,
    tol: float,
    max_iter: int,
    start: torch.Tensor | None = None,
) -> tuple[torch.Tensor, int, float]:
    """Solve one unbatched problem in float64; return ``(alpha, n_iter, relative gap)``.

    ``start``: a float64 point of the small-problem path (daqp's) that missed the
    tolerance; the iteration polishes it (counted as one iteration).

    ``alpha`` is float64 except on a float32 problem that had servable samples: then it is
    rounded to float32 and the gap is that of the rounded point.
    """
    B = p.shape[0]
    dev = G.device
    if B == 0:
        return p.to(_WORK), 0, 0.0
    pw, u = _bounds(G, p, C)
    servable = u > 0
    if alpha0 is None:
        x = torch.zeros(B, dtype=_WORK, device=dev)
    else:
        x = torch.minimum(alpha0.to(_WORK).clamp(min=0), u)
    index = servable.nonzero().squeeze(1)
    if index.numel() == 0:
        return x, 0, 0.0
    n_iter = 0
    if start is not None:
        x, n_iter = start, 1

    # Violators added per iteration. From scratch the working set doubles, from at least
    # B/16: enough to reach a typical support (10-20% of B) in a few iterations, few
    # enough that the first blocks are cheap. A warm start's free set is nearly right:
    # 16 at a time keep its (already large) blocks from growing needlessly.
    started = alpha0 is not None or n_iter > 0  # x is a warm start or daqp's point
    warm = started and bool(x.any())
    k_min = 16 if warm else max(16, B // 16)
    # Relative diagonal shift absorbing the rounding of semi-definite blocks; raised for
    # good when a block turns out more indefinite (a float32 Gram matrix is semi-definite
    # only up to its own rounding, ~1e-7 of its largest entries).
    floor = 4 * B * torch.finfo(_WORK).eps
    shift = floor
    steps, kink_ranks = _arc_constants(dev)
    neg_p = pw.neg()
    g = _gradient(G, x, pw) if started else neg_p.clone()
    fresh = True  # g is exact, not updated incrementally since it was computed
    history: list[float] = []  # relative gap before each iteration since the last fallback
    face_failed: list[bool] = []  # whether the re-solved face point was rejected, likewise
    fallbacks = 0
    polish = False  # whether a Newton step is due whatever the gap
    while True:
        at_lo = x <= 0
        at_hi = x >= u
        inside = ~(at_lo | at_hi)
        at_hi &= servable
        viol = torch.where(g < 0, at_lo & servable, at_hi & (g > 0))
        # One host round trip for all the decisions of the iteration.
        xg, ug, xp, n_viol, n_inside, n_hi = torch.stack(
            [*_gap_terms(x, g, pw, u), viol.sum(), inside.sum(), at_hi.sum()]
        ).tolist()
        rel = _relative(xg, ug, xp)
        if rel <= tol and not polish:
            if fresh:
                break
            # Incremental updates drift by rounding: certify with an exact gradient.
            g = _gradient(G, x, pw)
            fresh = True
            continue
        if n_iter >= max_iter:
            break
        history.append(rel)
        stalled = len(history) > 2 * _STALL_WINDOW and (
            rel > 0.5 * history[-1 - _STALL_WINDOW] or len(history) > 6 * _STALL_WINDOW
        )
        if stalled and fallbacks == _MAX_FALLBACKS:
            break  # the rounding floor of the gap, or hopeless: stop rather than spin
        # Creeping along singular faces (the gap stalls, or the face points keep failing):
        # the interior-point fallback solves the working set (grown as from scratch), the
        # second time the whole problem, and the Newton iteration polishes its answer.
        fall_back = (stalled or sum(face_failed[-8:]) >= 5) and fallbacks < _MAX_FALLBACKS
        grow = fall_back or not warm
        k = min(int(n_viol), max(k_min, int(n_inside)) if grow else k_min)
        if k + n_inside == 0:
            break
        work = inside
        if k:
            # The most violated first. Ranking by the gain of a single-coordinate step
            # (g_i^2 / G_ii) favours samples with small gradients, which the steps of the
            # others largely serve: on Gram matrices of real gradients it took about 8%
            # more iterations (benchmarks/README.md).
            score = torch.where(viol, g.abs(), -1.0)
            work = work.index_fill(0, score.topk(k).indices, True)
        if fall_back:
            fallbacks += 1
            polish = True
            work = work if fallbacks == 1 else servable
            x, g, used = _fallback(G, x, g, pw, u, work, tol, max_iter - n_iter)
            n_iter += used
            fresh = False
            shift = floor
            history, face_failed = [], []
            continue
        n_iter += 1
        idx = work.nonzero().squeeze(1)
        rows = G.index_select(0, idx).to(_WORK)
        # Rows of the transpose gather faster than columns, and G is symmetric.
        H = rows.t().index_select(0, idx)
        xw = x.index_select(0, idx)
        gw, uw = g.index_select(0, idx), u.index_select(0, idx)
        # Steps may raise f by rounding errors of f itself: the interior-point answer is
        # polished by an exact face solve that can only gain that much.
        slack = 64 * torch.finfo(_WORK).eps * abs(0.5 * (xg - xp))
        moved, df, on_face, used = _step(H, xw, gw, uw, shift, floor, steps, kink_ranks, slack)
        if shift == floor:
            floor = shift = used  # the undamped factorisation needed a larger shift
        face_failed.append(on_face == 0)
        # Arc and proximal steps leave gradient residuals on the free variables: take one
        # more Newton step after them, whatever the gap, for an exact face solution.
        polish = on_face != 1 and not polish
        if df < slack:
            # With the whole support in the working set its rows give the exact gradient
            # at the price of the incremental update; otherwise update and recompute later.
            # (The support is the free variables, all in the working set, and those at C.)
            fresh = n_hi == 0 or not bool((at_hi & ~work).any())
            x.index_copy_(0, idx, moved)
            if fresh:
                g = torch.addmv(neg_p, rows.t(), moved)
            else:
                g.addmv_(rows.t(), moved - xw)
            shift = max(floor, shift / _DAMPING_GROWTH)
        elif shift >= 10.0 * idx.numel():
            # Even a step along a damped direction (the gradient, scaled by at most a
            # tenth of the Lipschitz constant's bound) fails: the rounding floor.
            break
        else:
            # Rounding spoiled the Newton direction: damp it (Levenberg-Marquardt).
            shift = min(shift * _DAMPING_GROWTH, 10.0 * idx.numel())
    if G.dtype != _WORK:
        # Report the gap of what is returned, not of its float64 ancestor.
        x = x.to(G.dtype)
        rounded = x.to(_WORK)
        terms = _gap_terms(rounded, _gradient(G, rounded, pw), pw, u)
        rel = _relative(*torch.stack(terms).tolist())
    return x, n_iter, rel


class _SmallSolution(NamedTuple):
    """What :func:`_small_solution` found.

    ``certified``: ``alpha`` (dtype of ``G``) has a relative gap ``gap`` within the
    tolerance. Otherwise ``start`` is daqp's float64 point for the Newton iteration to
    polish, or ``None`` when the iteration should start as without this path.
    """

    certified: bool
    alpha: torch.Tensor | None
    gap: float
    start: torch.Tensor | None


def _small_solution(
    G: torch.Tensor | GramOperator,
    p: torch.Tensor,
    C: torch.Tensor,
    alpha0: torch.Tensor | None,
    tol: float,
    rank_deficient: bool = False,
) -> _SmallSolution:
    """A small CPU problem solved in float64 numpy, without tensor operations.

    ``rank_deficient``: ``G`` is known to have rank at most half its size (a batch of
    more samples than the model has parameters); the active-set iteration, which
    singular faces defeat, is skipped for the low-rank path.

    The servable block (the samples :func:`_bounds` keeps) is solved by a primal-dual
    active-set iteration (:func:`_pdas`) from the warm start, and where it does not
    certify the gap, for at most ``_ACTIVE_SET_MAX`` servable samples, by daqp
    (:func:`_daqp`). Both leave every variable exactly at ``0``, exactly at ``C_i`` or on
    the face solved exactly; the relative gap is the solver's stopping rule, of the point
    rounded to the dtype of ``G``.
    """
    B = p.shape[0]
    jacobian = G.jacobian() if rank_deficient and hasattr(G, "jacobian") else None
    if jacobian is not None:
        # G = J J^T from the per-sample gradients: no B x B matrix is formed.
        full = _FactorGram(jacobian.numpy().astype(np.float64, copy=False))
    elif isinstance(G, torch.Tensor):
        full = G.numpy().astype(np.float64, copy=False)
    else:  # the rows of supports and faces only
        full = _RowGram(G)
    diagonal = full.diagonal()
    linear_all = p.numpy().astype(np.float64, copy=False)
    servable = (diagonal > torch.finfo(G.dtype).eps * diagonal.max()) & (linear_all > 0)
    index = np.flatnonzero(servable)
    n = index.size
    if n == 0:
        return _SmallSolution(False, None, 0.0, None)
    all_servable = n == B
    sub = full if all_servable else full.take(index, axis=0).take(index, axis=1)
    linear = linear_all if all_servable else linear_all[index]
    bounds = C.numpy().astype(np.float64)
    upper = (bounds if bounds.shape == (B,) else np.broadcast_to(bounds, (B,)))[index]
    start = np.zeros(n)
    if alpha0 is not None:
        start = np.minimum(np.maximum(alpha0.numpy()[index], 0.0), upper)

    def relative_gap(point: np.ndarray) -> float:
        g = sub @ point - linear
        return _relative(point @ g, upper @ np.minimum(g, 0.0), point @ linear)

    def rounded(point: np.ndarray, gap: float) -> tuple[torch.Tensor, float]:
        x = np.zeros(B, dtype=p.numpy().dtype)  # p has the dtype of G
        x[index] = point
        if x.dtype == np.float64:
            return torch.from_numpy(x), gap
        return torch.from_numpy(x), relative_gap(x[index].astype(np.float64))

    solution = None if rank_deficient else _pdas(sub, linear, upper, start)
    if solution is None and not rank_deficient and start.any():
        # The weights of the samples' previous visits (another batch, other weights) can
        # make the splits cycle where a cold start does not: batches of 512, 200,000 x 20
        # rows, second epoch: 151 of 393 warm-started problems cycled, none cold.
        solution = _pdas(sub, linear, upper, np.zeros(n))
    if solution is not None and (gap := relative_gap(solution)) <= tol:
        alpha, gap = rounded(solution, gap)
        return _SmallSolution(True, alpha, gap, None)
    if isinstance(sub, _RowGram):  # the Newton iteration reads rows too; the rest would not
        return _SmallSolution(False, None, 0.0, None)
    # Rank-deficient Gram matrices (more samples than parameters, duplicated samples):
    # singular faces defeat the active-set iteration, and the rank r < n makes the
    # interior-point method cheap in the factor's space.
    if isinstance(sub, _FactorGram):
        factor = sub.factor
    else:
        factor = _low_rank_factor(sub, float(torch.finfo(G.dtype).eps))
    if factor is not None:
        solution = _low_rank(sub, factor, linear, upper, tol, relative_gap)
        if solution is not None:
            alpha, gap = rounded(solution, relative_gap(solution))
            return _SmallSolution(True, alpha, gap, None)
    if n > _ACTIVE_SET_MAX:
        return _SmallSolution(False, None, 0.0, None)
    if isinstance(sub, _FactorGram):
        sub = sub.factor @ sub.factor.T
    solution = _daqp(sub, linear, upper, relative_gap)
    if solution is None:
        return _SmallSolution(False, None, 0.0, None)
    if (gap := relative_gap(solution)) <= tol:
        alpha, gap = rounded(solution, gap)
        return _SmallSolution(True, alpha, gap, None)
    x = np.zeros(B)
    x[index] = solution
    return _SmallSolution(False, None, 0.0, torch.from_numpy(x))


def _pdas(G: np.ndarray, p: np.ndarray, u: np.ndarray, x0: np.ndarray) -> np.ndarray | None:
    """Primal-dual active-set iteration (Hintermueller, Ito and Kunisch, 2002) from ``x0``.

    Each iteration splits the variables by ``z = x - g / diag(G)`` (``g = G x - p``) into
    those at 0 (``z <= 0``), at ``u`` (``z >= u``) and free, and solves the free ones'
    face exactly (one Cholesky factorisation). When the split repeats, the point meets
    the optimality conditions up to the rounding of that solve. Warm-started from the
    previous importance weights it needs 2-4 factorisations on the Gram matrices of MLP
    steps. Returns ``None`` where a face is singular (rank-deficient Gram matrices,
    duplicated samples: daqp's proximal iteration or the Newton iteration solve those) or
    the split cycles.
    """
    n = p.size
    scale = G.diagonal()
    # A pivot below this share of its diagonal entry is rounding of a singular face, not
    # curvature: relative to each entry, as Cholesky's rounding is. Relative to the largest
    # entry instead, 1595 active-set attempts of a 2-epoch fit on 1M x 20 rows (batch 512,
    # 3906 problems) failed as singular, most on to the Newton iteration (118 s, now 96 s).
    tiny = 1e4 * n * _EPS64
    x = x0
    previous = None
    seen: set[bytes] = set()
    for _ in range(_PDAS_MAX_ITER):
        z = x - (G @ x - p) / scale
        at_upper = z >= u
        free = (z > 0.0) & ~at_upper
        split = free.tobytes() + at_upper.tobytes()
        if split == previous:
            return x  # x solved this split's face
        if split in seen:
            return None  # cycling
        seen.add(split)
        previous = split
        x = np.where(at_upper, u, 0.0)
        face = np.flatnonzero(free)
        if face.size:
            rhs = p[face]
            if at_upper.any():
                rhs = rhs - G.take(face, axis=0) @ x
            block = np.asarray(G.take(face, axis=0).take(face, axis=1))  # 3x G[ix_]'s speed
            factor, info = _LAPACK_POTRF(block, lower=1, clean=0, overwrite_a=1)
            if info != 0 or (factor.diagonal() ** 2 <= tiny * scale[face]).any():
                return None
            x[face], info = _LAPACK_POTRS(factor, rhs, lower=1)
            if info != 0:
                return None
    return None


class _FactorGram:
    """``G = F F^T`` read through its factor ``F`` ``(n, r)``, as the low-rank path reads a
    dense ``G``: ``diagonal``, ``G @ x`` and ``take`` of rows, then of columns."""

    def __init__(self, factor: np.ndarray, columns: np.ndarray | None = None):
        self.factor = factor
        self._columns = factor if columns is None else columns

    def diagonal(self) -> np.ndarray:
        return np.einsum("ij,ij->i", self.factor, self._columns)

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        return self.factor @ (self._columns.T @ x)

    def take(self, index: np.ndarray, axis: int) -> _FactorGram:
        if axis == 0:
            return _FactorGram(self.factor[index], self._columns)
        return _FactorGram(self.factor, self._columns[index])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.factor @ self._columns.T


class _RowGram:
    """A :class:`GramOperator` read in float64 as the active-set path reads a dense ``G``:
    ``diagonal``, ``G @ x`` and ``take`` of rows, then of columns, on a view of the rows
    ``rows`` and columns ``columns`` (global indices; ``None``: all). Only the rows of
    the supports of the vectors it multiplies and of the blocks taken are read, each once
    into a float64 store that the views share: ``G @ x`` is ``G[support(x), :]^T x`` by
    symmetry."""

    def __init__(
        self,
        G: GramOperator,
        rows: np.ndarray | None = None,
        columns: np.ndarray | None = None,
        store: _Float64Rows | None = None,
    ):
        self._G = G
        self._rows = rows
        self._columns = columns
        self._store = _Float64Rows(G) if store is None else store

    def _view(self, rows: np.ndarray | None, columns: np.ndarray | None) -> _RowGram:
        return _RowGram(self._G, rows, columns, self._store)

    def diagonal(self) -> np.ndarray:  # of a square view
        diagonal = self._G.diagonal().numpy().astype(np.float64)
        return diagonal if self._columns is None else diagonal[self._columns]

    def __matmul__(self, x: np.ndarray) -> np.ndarray:
        support = np.flatnonzero(x)
        rows = support if self._columns is None else self._columns[support]
        product = self._store.transposed_product(rows, x[support])
        return product if self._rows is None else product[self._rows]

    def take(self, index: np.ndarray, axis: int) -> _RowGram:
        if axis == 0:
            return self._view(index if self._rows is None else self._rows[index], self._columns)
        return self._view(self._rows, index if self._columns is None else self._columns[index])

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        rows = np.arange(self._G.shape[0]) if self._rows is None else self._rows
        block = self._store.rows(rows)
        return block if self._columns is None else block.take(self._columns, axis=1)


class _Float64Rows:
    """The rows of a :class:`GramOperator` read so far, in float64 (capacity grows by
    doubling), and each row's position there (-1: not read)."""

    def __init__(self, G: GramOperator):
        self._G = G
        self._slot = np.full(G.shape[0], -1)
        self._data = np.empty((0, G.shape[0]))
        self._n_read = 0

    def _slots(self, index: np.ndarray) -> np.ndarray:
        missing = np.unique(index[self._slot[index] < 0])
        if missing.size:
            needed = self._n_read + missing.size
            if needed > self._data.shape[0]:
                grown = np.empty((max(needed, 2 * self._data.shape[0]), self._data.shape[1]))
                grown[: self._n_read] = self._data[: self._n_read]
                self._data = grown
            block = self._G.index_select(0, torch.from_numpy(missing)).numpy()
            self._data[self._n_read : needed] = block
            self._slot[missing] = np.arange(self._n_read, needed)
            self._n_read = needed
        return self._slot[index]

    def rows(self, index: np.ndarray) -> np.ndarray:
        """The rows ``index``, ``(len(index), B)``."""
        slots = self._slots(index)  # before reading _data: it may grow
        return self._data.take(slots, axis=0)

    def transposed_product(self, index: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """``G[index, :]^T weights``, ``(B,)``, without copying the rows."""
        slots = self._slots(index)
        spread = np.zeros(self._n_read)
        spread[slots] = weights
        return spread @ self._data[: self._n_read]


def _low_rank_factor(G: np.ndarray, eps: float) -> np.ndarray | None:
    """A factor ``F`` (n, r) with ``G = F F^T`` up to rounding, where ``G`` is rank-deficient.

    LAPACK's pivoted Cholesky factorisation (``dpstrf``, O(n r^2)) stops when the largest
    remaining diagonal entry is below ``n * eps * max_i G_ii``, ``eps`` the machine epsilon
    of the dtype ``G`` was computed in: what is left is rounding (a float32 Gram matrix is
    semi-definite only to about its own epsilon). Returns ``None`` when ``G`` has full
    numerical rank.
    """
    n = G.shape[0]
    tol = n * eps * float(G.diagonal().max())
    c, piv, rank, info = _LAPACK_PSTRF(G, tol=tol, lower=1)
    if info < 0 or not 0 < rank < n:
        return None
    factor = np.empty((n, rank))
    factor[piv - 1] = np.tril(c[:, :rank])
    return factor


def _low_rank(
    G: np.ndarray, F: np.ndarray, p: np.ndarray, u: np.ndarray, tol: float, relative_gap
) -> np.ndarray | None:
    """The box QP of a rank-deficient ``G = F F^T``: interior point in ``F``'s space, then
    an exact active-set finish.

    The problem is the dual of a linear SVM without bias over the rows ``f_i`` of ``F``
    (``min_w 1/2 ||w||^2 + sum_i u_i max(0, p_i - f_i . w)``, ``w = F^T a``): its optimal
    ``w`` is unique, ``a`` need not be, and a face with more free samples than the rank
    is singular, which stalls active-set and Newton iterations. Mehrotra's
    predictor-corrector method needs no face to be regular: its Newton systems
    ``(G + D) dx = r`` (``D`` diagonal, positive) are solved through the r x r matrix
    ``I + F^T D^-1 F`` (Sherman-Morrison-Woodbury), O(n r^2) per iteration. Once the split
    into samples at 0, at ``u`` and free that its iterate suggests (as :func:`_pdas`
    splits) repeats, :func:`_finish` solves that face exactly on ``G`` itself, and its
    point is returned once it meets the relative-gap test; else the iteration goes on.
    Returns ``None`` if no finish certifies within the iteration limit.
    """
    diagonal = G.diagonal()
    last = None
    for x, g in _low_rank_interior_point(F, p, u):
        z = x - g / diagonal
        split = (z >= u).tobytes() + (z <= 0.0).tobytes()
        if split == last:
            point = _finish(G, p, u, x, lambda point: relative_gap(point) <= tol)
            if point is not None:
                return point
        last = split
    return None


def _low_rank_interior_point(F: np.ndarray, p: np.ndarray, u: np.ndarray):
    """Mehrotra predictor-corrector iterates for ``min 1/2 ||F^T x||^2 - p^T x``,
    ``0 < x < u`` (all ``u`` positive), as :func:`_interior_point` but in float64 numpy
    with the Newton systems solved in the r-dimensional space of ``F``.

    Yields each iterate ``x`` with its gradient ``F F^T x - p``; stops after
    ``_LOW_RANK_IPM_MAX_ITER`` iterates, or once the barrier has vanished (an iterate on a
    bound by rounding, a complementarity below ``1e-15`` of the first, a system that
    cannot be factorised).
    """
    n, r = F.shape
    x = 0.5 * u
    g = F @ (F.T @ x) - p
    floor = 1e-2 * float(np.abs(g).max()) + np.finfo(np.float64).tiny
    zl = np.maximum(g, 0.0) + floor
    zu = np.maximum(-g, 0.0) + floor
    identity = np.eye(r)
    mu0 = math.inf
    for _ in range(_LOW_RANK_IPM_MAX_ITER):
        s = u - x
        g = F @ (F.T @ x) - p
        yield x, g
        mu = (x @ zl + s @ zu) / (2 * n)
        mu0 = min(mu0, mu)
        if not (x.min() > 0 and s.min() > 0 and 1e-15 * mu0 < mu < math.inf):
            return
        inverse = 1.0 / (zl / x + zu / s)  # D^-1
        factor, info = _LAPACK_POTRF(identity + (F.T * inverse) @ F, lower=1, clean=1)
        if info != 0:
            return
        rd = g - zl + zu
        rl, ru = -x * zl, -s * zu
        dx = _woodbury_solve(F, factor, inverse, rl / x - ru / s - rd)
        dzl, dzu = (rl - zl * dx) / x, (ru + zu * dx) / s
        ap, ad = _max_steps_numpy(x, s, zl, zu, dx, dzl, dzu)
        mu_aff = ((x + ap * dx) @ (zl + ad * dzl) + (s - ap * dx) @ (zu + ad * dzu)) / (2 * n)
        sigma_mu = (mu_aff / mu) ** 3 * mu
        rl = sigma_mu - x * zl - dx * dzl
        ru = sigma_mu - s * zu + dx * dzu
        dx = _woodbury_solve(F, factor, inverse, rl / x - ru / s - rd)
        dzl, dzu = (rl - zl * dx) / x, (ru + zu * dx) / s
        ap, ad = _max_steps_numpy(x, s, zl, zu, dx, dzl, dzu)
        x = x + 0.99 * ap * dx
        zl = zl + 0.99 * ad * dzl
        zu = zu + 0.99 * ad * dzu


def _woodbury_solve(
    F: np.ndarray, factor: np.ndarray, inverse: np.ndarray, rhs: np.ndarray
) -> np.ndarray:
    """``(F F^T + D)^-1 rhs = D^-1 rhs - D^-1 F (I + F^T D^-1 F)^-1 F^T D^-1 rhs``, with
    ``inverse`` the diagonal of ``D^-1`` and ``factor`` the Cholesky factor of
    ``I + F^T D^-1 F``."""
    scaled = inverse * rhs
    y, _ = _LAPACK_POTRS(factor, F.T @ scaled, lower=1)
    return scaled - inverse * (F @ y)


def _max_steps_numpy(
    x: np.ndarray,
    s: np.ndarray,
    zl: np.ndarray,
    zu: np.ndarray,
    dx: np.ndarray,
    dzl: np.ndarray,
    dzu: np.ndarray,
) -> tuple[float, float]:
    """:func:`_max_steps` in numpy."""
    primal = min(1.0, _ratio(x, dx, -1.0), _ratio(s, dx, 1.0))
    dual = min(1.0, _ratio(zl, dzl, -1.0), _ratio(zu, dzu, -1.0))
    return primal, dual


def _ratio(v: np.ndarray, dv: np.ndarray, sign: float) -> float:
    """The largest ``t`` for which ``v - t * sign * dv`` stays non-negative: the least
    ``v_i / |dv_i|`` over the ``i`` with ``sign * dv_i > 0``, ``inf`` if there is none."""
    moving = sign * dv > 0
    return float((v[moving] / np.abs(dv[moving])).min()) if moving.any() else math.inf


def _finish(
    G: np.ndarray, p: np.ndarray, u: np.ndarray, x: np.ndarray, certified
) -> np.ndarray | None:
    """Active-set rounds from an interior-point iterate ``x`` to an exact solution.

    As :func:`_pdas`: split by ``z = x - g / diag(G)``, put the variables at their bound
    exactly and solve the free ones' face; but a singular face (more free samples than
    the rank of their rows, duplicated samples) is solved in the least-squares sense
    (minimum norm, LAPACK ``gelsd``), which is exact when the face holds an optimum, and
    the rounds end at the first point that ``certified(point)`` accepts (the relative-gap
    test): on degenerate problems a variable can sit on its bound with a zero gradient,
    and rounding flips it between splits that are both optimal. Returns ``None`` if no
    point is certified within ``_LOW_RANK_FINISH_ROUNDS`` rounds or the split cycles.
    """
    scale = G.diagonal()
    tiny_scale = 1e4 * _EPS64 * scale.max()
    seen: set[bytes] = set()
    for _ in range(_LOW_RANK_FINISH_ROUNDS):
        z = x - (G @ x - p) / scale
        at_upper = z >= u
        free = (z > 0.0) & ~at_upper
        split = free.tobytes() + at_upper.tobytes()
        if split in seen:
            return None
        seen.add(split)
        x = np.where(at_upper, u, 0.0)
        face = np.flatnonzero(free)
        if face.size:
            rhs = p[face]
            if at_upper.any():
                rhs = rhs - G.take(face, axis=0) @ x
            block = np.asarray(G.take(face, axis=0).take(face, axis=1))
            factor, info = _LAPACK_POTRF(block, lower=1, clean=0, overwrite_a=0)
            if info == 0 and factor.diagonal().min() ** 2 > face.size * tiny_scale:
                x[face], _ = _LAPACK_POTRS(factor, rhs, lower=1)
            else:
                x[face] = scipy.linalg.lstsq(
                    block, rhs, cond=face.size * _EPS64, lapack_driver="gelsd"
                )[0]
        if ((x >= 0.0) & (x <= u)).all() and certified(x):
            return x
    return None


def _daqp(G: np.ndarray, p: np.ndarray, u: np.ndarray, relative_gap) -> np.ndarray | None:
    """The box QP solved by daqp, bounds snapped and the free face polished.

    daqp (Arnstrom, Bemporad and Axehill, 2022) is a dual active-set solver in C: on the
    small dense problems of minibatch steps it needs a few dozen pivots and no tensor
    operations. Its proximal regularisation of singular ``G`` leaves the variables at
    their bounds off by rounding, so they are set exactly to the bound its multipliers
    say is active; a proximal tolerance of 1e-12 (daqp's default 1e-6 left gaps of 4e-8
    on LSTM Gram matrices) costs about twice the pivots. Returns ``None`` if daqp reports
    a failure.
    """
    n = p.size
    solution, _, exitflag, info = daqp.solve(
        G, -p, np.zeros((0, n)), u.copy(), np.zeros(n), np.zeros(n, dtype=np.intc),
        eta_prox=1e-12,
    )  # fmt: skip
    if exitflag < 1 or not np.isfinite(solution).all():
        return None
    multipliers = info["lam"][:n]
    solution = np.where(multipliers > 0, u, np.where(multipliers < 0, 0.0, solution))
    solution = np.clip(solution, 0.0, u)
    # daqp stops at its own tolerances: solve the free variables' face exactly, as the
    # Newton iteration ends (Cholesky, or least squares where the face is singular, as
    # for duplicated samples), and keep the better point.
    free = (solution > 0.0) & (solution < u)
    if free.any():
        block = G[np.ix_(free, free)]
        rhs = p[free] - G[np.ix_(free, ~free)] @ solution[~free]
        try:
            face = scipy.linalg.cho_solve(scipy.linalg.cho_factor(block), rhs)
        except np.linalg.LinAlgError:
            face = scipy.linalg.lstsq(block, rhs, lapack_driver="gelsy")[0]
        if (face > 0.0).all() and (face < u[free]).all():
            polished = solution.copy()
            polished[free] = face
            if relative_gap(polished) <= relative_gap(solution):
                solution = polished
    return solution


def _step(
    H: torch.Tensor,
    x: torch.Tensor,
    g: torch.Tensor,
    u: torch.Tensor,
    shift: float,
    floor: float,
    steps: torch.Tensor,
    kink_ranks: torch.Tensor,
    slack: float,
) -> tuple[torch.Tensor, float, int, float]:
    """One step on the working set.

    ``shift`` is the relative diagonal shift of the Newton system: ``floor`` (the least
    that keeps semi-definite blocks factorisable) or more when damped. Returns the new
    point, the change ``f(new) - f(x)`` (computed from the step, not by subtracting
    objective values, so that it stays accurate near the optimum), which candidate it is
    (1 for the re-solved face minimiser, preferred whenever it changes ``f`` by less than
    ``slack``, 2 for its stronger proximal variant, 0 for a point of the arc) and the shift
    the factorisation actually needed.
    """
    scale = H.diagonal().max()  # positive: servable samples have G_ii > 0
    # The factorisation shifts H's diagonal in place; it is copied back exactly (adding
    # and subtracting a shift would round) before f is evaluated.
    diagonal = H.diagonal().clone()
    L, used = _factor(H, scale, shift)
    carried = used  # the relative shift H carries on its diagonal
    d = _chol_solve(L, g).neg_()
    if shift == floor:
        # Re-solve with the same shift, as a proximal term: (H + r) y = H x - g + r x. On
        # nearly singular faces the plain Newton point jumps far along the null space and
        # fails; a stronger proximal term keeps it near x.
        for prox in (used, *_PROXIMAL_SHIFTS):
            if prox < used:
                continue
            if prox != carried:
                H.diagonal().add_(scale * (prox - carried))
                carried = prox
            y = x + d if prox == used else _chol_solve(torch.linalg.cholesky_ex(H)[0], -g) + x
            face = _resolve(H, torch.addmv(g, H, x, beta=-1.0), u, y)
            H.diagonal().copy_(diagonal)
            carried = 0.0
            step = face - x
            df = float(step @ torch.addmv(g, H, step, alpha=0.5))
            if df < slack:
                return face, df, 1 if prox == used else 2, used
    if carried:
        H.diagonal().copy_(diagonal)
    # Search the projected arc P(x + t d). Variables on the bound d points through never
    # move, so drop them from d: the arc is unchanged and d stays a descent direction. Up
    # to the first kink, where a variable reaches a bound, f is a plain quadratic along d,
    # whose minimiser there (the classical ratio-test step) always lowers f. Beyond, f is
    # piecewise quadratic: besides fixed step lengths the search tries kinks, which on
    # singular blocks are the useful steps, since d is huge along the null space.
    d = torch.where(((x <= 0) & (d < 0)) | ((x >= u) & (d > 0)), 0.0, d)
    kinks = torch.where(d > 0, (u - x) / d, torch.where(d < 0, -x / d, math.inf)).sort().values
    curvature = d @ (H @ d)
    exact = torch.where(curvature > 0, -(g @ d) / curvature, math.inf)
    first = torch.minimum(exact, kinks[0]).view(1)
    kinks = kinks.index_select(0, kink_ranks.clamp(max=x.numel() - 1))
    ts = torch.cat([steps, first, kinks]).clamp(max=1.0)
    move = torch.outer(d, ts)
    X = torch.clamp(x.unsqueeze(1) + move, min=torch.zeros_like(move), max=u.unsqueeze(1))
    # A variable stopped at its kink lands on its bound up to rounding: put it there.
    fuzz = 4 * torch.finfo(_WORK).eps * (x.abs().unsqueeze(1) + move.abs())
    X = torch.where(X <= fuzz, 0.0, torch.where(u.unsqueeze(1) - X <= fuzz, u.unsqueeze(1), X))
    D = X - x.unsqueeze(1)
    dfs = (D * torch.addmm(g.unsqueeze(1), H, D, alpha=0.5)).sum(0)
    # A failed factorisation shows up as NaN; such candidates are never chosen.
    val, col = torch.min(torch.nan_to_num(dfs, nan=math.inf), 0)
    return X[:, col], float(val), 0, used


def _resolve(H: torch.Tensor, rhs: torch.Tensor, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Make the face minimiser ``y`` of ``H y = rhs`` feasible, primal-dual active-set style.

    Variables outside ``[0, u]`` are fixed at the bound they cross and the system is
    re-solved for the others, for a few rounds. Fixed variables sit exactly on their bound,
    so they never count as outside again.
    """
    zero = torch.zeros_like(u)
    free = None
    for _ in range(_RESOLVE_ROUNDS):
        clipped = torch.clamp(y, min=zero, max=u)
        stay = clipped == y
        if stay.all().item():
            return y
        y = clipped
        free = stay if free is None else free & stay
        A = free.nonzero().squeeze(1)
        if A.numel() == 0:
            return y
        HA = H.index_select(0, A)
        b = torch.addmv(rhs.index_select(0, A), HA, y.masked_fill(free, 0.0), alpha=-1.0)
        L, _ = torch.linalg.cholesky_ex(HA.t().index_select(0, A))
        y = y.index_copy(0, A, _chol_solve(L, b))
    return torch.clamp(y, min=zero, max=u)


def _factor(H: torch.Tensor, scale: torch.Tensor, shift: float) -> tuple[torch.Tensor, float]:
    """Cholesky factor of ``H + shift * scale * I``, the shift raised until it succeeds.

    A semi-definite block can be numerically indefinite by a few ulps of its largest
    entry; a shift relative to the largest diagonal entry ``scale`` absorbs that. The
    shift is added to the diagonal of ``H`` in place (no copy of the block): on return
    ``H`` holds ``H + used * scale * I``. Returns the factor and the shift ``used``.
    """
    carried = 0.0
    while True:
        H.diagonal().add_(scale * (shift - carried))
        carried = shift
        L, info = torch.linalg.cholesky_ex(H)
        if shift >= 1.0 or info.item() == 0:
            return L, shift
        shift = min(1.0, max(shift, _MIN_SHIFT) * _DAMPING_GROWTH)


@functools.lru_cache
def _arc_constants(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Step lengths and breakpoint ranks of the arc search, as tensors on ``device``."""
    with torch.inference_mode():
        return (
            torch.tensor(_ARC_STEPS, dtype=_WORK, device=device),
            torch.tensor(_KINK_RANKS, device=device),
        )


def _chol_solve(L: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solve ``L L^T y = b`` (two triangular solves beat ``cholesky_solve`` on small blocks)."""
    z = torch.linalg.solve_triangular(L, b.unsqueeze(1), upper=False)
    return torch.linalg.solve_triangular(L.mT, z, upper=True).squeeze(1)


def _fallback(
    G: torch.Tensor,
    x: torch.Tensor,
    g: torch.Tensor,
    p: torch.Tensor,
    u: torch.Tensor,
    work: torch.Tensor,
    tol: float,
    max_iter: int,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Interior-point solve over the working set ``work``, snapped onto the bounds.

    The other variables stay fixed. A variable goes to a bound when its gradient would
    keep pointing at that bound even after a single-coordinate move there: ``g_i > x_i
    G_ii`` for the lower bound, ``-g_i > (u_i - x_i) G_ii`` for the upper one. Returns the
    new point, its gradient (incrementally updated) and the interior-point iterations.
    """
    idx = work.nonzero().squeeze(1)
    rows = G.index_select(0, idx).to(_WORK)
    H = rows.t().index_select(0, idx)
    xS, uS = x.index_select(0, idx), u.index_select(0, idx)
    q = torch.addmv(g.index_select(0, idx), H, xS, beta=-1.0)  # H x_S - g_S
    # Far below tol: the polishing Newton step may fail on degenerate faces, and then the
    # free gradients are those the interior-point method left.
    y, used = _interior_point(H, q, uS, 1e-3 * tol, max(1, min(max_iter, _IPM_MAX_ITER)))
    gS = H @ y - q
    dH = H.diagonal()
    y = torch.where(gS > y * dH, 0.0, y)
    y = torch.where(-gS > (uS - y) * dH, uS, y)
    return x.index_copy(0, idx, y), torch.addmv(g, rows.t(), y - xS), used


def _interior_point(
    H: torch.Tensor, q: torch.Tensor, u: torch.Tensor, tol: float, max_iter: int
) -> tuple[torch.Tensor, int]:
    """Mehrotra predictor-corrector for ``min 1/2 x^T H x - q^T x``, ``0 < x < u``.

    For degenerate problems, where the working-set iteration can only creep along null
    directions of ``H``, since its iteration count hardly depends on degeneracy. All
    bounds must be positive. Returns the iterate of least relative duality gap (at most
    ``tol`` unless the gap stops improving or ``max_iter`` runs out) and the number of
    iterations.
    """
    n = q.numel()
    x = 0.5 * u
    g = H @ x - q
    # Start the bound multipliers at the gradient they have to balance, kept positive.
    floor = 1e-2 * g.abs().max() + torch.finfo(_WORK).tiny
    zl = g.clamp(min=0) + floor
    zu = (-g).clamp(min=0) + floor
    scale = H.diagonal().max().clamp(min=torch.finfo(_WORK).tiny)
    history: list[float] = []
    best, mu0 = x, math.inf
    for it in range(max_iter):
        s = u - x
        g = H @ x - q
        *terms, mu = torch.stack([*_gap_terms(x, g, q, u), (x @ zl + s @ zu) / (2 * n)]).tolist()
        rel = _relative(*terms)
        if not (math.isfinite(rel) and math.isfinite(mu)):
            return best, it  # the barrier underflowed: keep the last sound iterate
        if not history or rel < min(history):
            best = x
        history.append(rel)
        mu0 = min(mu0, mu) if it == 0 else mu0
        stuck = it >= 5 and mu < 1e-14 * mu0 and rel > 0.5 * history[-6]
        if rel <= tol or stuck:
            # Converged, or the barrier has all but vanished and the gap stopped
            # improving: the rounding floor of the gap.
            return best, it
        M = H.clone()
        M.diagonal().add_(zl / x + zu / s)
        L, _ = _factor(M, scale, 0.0)
        rd = g - zl + zu
        # Predictor (affine) step, then the corrector aiming at sigma * mu.
        dx, dzl, dzu = _ipm_direction(L, x, s, zl, zu, rd, -x * zl, -s * zu)
        ap, ad = _max_steps(x, s, zl, zu, dx, dzl, dzu)
        mu_aff = ((x + ap * dx) @ (zl + ad * dzl) + (s - ap * dx) @ (zu + ad * dzu)) / (2 * n)
        sigma_mu = (mu_aff / mu) ** 3 * mu
        dx, dzl, dzu = _ipm_direction(
            L, x, s, zl, zu, rd, sigma_mu - x * zl - dx * dzl, sigma_mu - s * zu + dx * dzu
        )
        ap, ad = _max_steps(x, s, zl, zu, dx, dzl, dzu)
        x = x + 0.99 * ap * dx
        zl = zl + 0.99 * ad * dzl
        zu = zu + 0.99 * ad * dzu
    return best, max_iter


def _ipm_direction(
    L: torch.Tensor,
    x: torch.Tensor,
    s: torch.Tensor,
    zl: torch.Tensor,
    zu: torch.Tensor,
    rd: torch.Tensor,
    rl: torch.Tensor,
    ru: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Newton direction of the interior-point method.

    Solves ``H dx - dzl + dzu = -rd``, ``zl dx + x dzl = rl``, ``-zu dx + s dzu = ru`` by
    eliminating the multiplier steps: ``(H + Zl/X + Zu/S) dx = -rd + rl/x - ru/s``, with
    ``L`` the Cholesky factor of that matrix.
    """
    dx = _chol_solve(L, rl / x - ru / s - rd)
    return dx, (rl - zl * dx) / x, (ru + zu * dx) / s


def _max_steps(
    x: torch.Tensor,
    s: torch.Tensor,
    zl: torch.Tensor,
    zu: torch.Tensor,
    dx: torch.Tensor,
    dzl: torch.Tensor,
    dzu: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Largest primal and dual step lengths (at most 1) that keep everything positive."""
    inf = torch.full_like(x, math.inf)
    primal = torch.minimum(torch.where(dx < 0, -x / dx, inf), torch.where(dx > 0, s / dx, inf))
    dual = torch.minimum(torch.where(dzl < 0, -zl / dzl, inf), torch.where(dzu < 0, -zu / dzu, inf))
    return primal.min().clamp(max=1.0), dual.min().clamp(max=1.0)

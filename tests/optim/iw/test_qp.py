"""Tests of the box-QP solver of importance-weights steps (``solve_box_qp``).

Optimality is checked three ways: against independent solvers (scipy's L-BFGS-B always,
the exact active-set solvers daqp and quadprog when installed), through the KKT
conditions, and through the duality gap recomputed here from ``G``, ``p``, ``C`` and
``alpha`` alone, which bounds the suboptimality ``f(alpha) - f*`` of a feasible point.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize
from sklearn.exceptions import ConvergenceWarning

from sklearn_iw.optim.iw import _qp as qp_module
from sklearn_iw.solvers import (
    BoxQPResult,
    GramRows,
    box_qp_duality_gap,
    per_sample_gram,
    solve_box_qp,
)

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def make_problem(
    B: int, rank: int, cond: float, C: str, seed: int, p_scale: float = 0.1
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, float | torch.Tensor]:
    """Random ``(J, G = J J^T, p, C)``: ``G`` of the given rank with condition number
    ``cond`` on its range, ``p`` uniform on ``(0, p_scale * sqrt(mean diag G))``, ``C`` a
    scalar ("scalar"), a small scalar that many variables reach ("small") or uniform
    per-sample bounds ("vector")."""
    rng = np.random.default_rng(seed)
    U = np.linalg.qr(rng.standard_normal((B, rank)))[0]
    V = np.linalg.qr(rng.standard_normal((rank, rank)))[0]
    s = np.logspace(0, -0.5 * math.log10(cond), rank)
    J = torch.tensor((U * s) @ V)
    G = J @ J.T
    p = torch.tensor(rng.uniform(0, p_scale, B)) * G.diagonal().mean().sqrt()
    bounds: float | torch.Tensor = {
        "scalar": 0.5,
        "small": 0.01,
        "vector": torch.tensor(rng.uniform(0, 1, B)),
    }[C]
    return J, G, p, bounds


def objective(G: torch.Tensor, p: torch.Tensor, a: torch.Tensor) -> float:
    return float(0.5 * a @ G @ a - p @ a)


def relative_gap(G: torch.Tensor, p: torch.Tensor, C, a: torch.Tensor) -> float:
    """The solver's relative gap, recomputed independently in float64 (all samples
    servable: ``p > 0`` and ``G_ii > 0`` in the problems it is used on)."""
    G, p, a = G.double(), p.double(), a.double()
    Cv = torch.as_tensor(C, dtype=torch.float64).expand_as(p)
    g = G @ a - p
    xi = (-g).clamp(min=0)
    primal = 0.5 * a @ G @ a + Cv @ xi
    return float((a @ G @ a - p @ a + Cv @ xi) / primal)


def lbfgsb(G: torch.Tensor, p: torch.Tensor, C) -> torch.Tensor:
    """scipy's L-BFGS-B at tight tolerances."""
    Gn, pn = G.double().numpy(), p.double().numpy()
    Cv = np.broadcast_to(np.asarray(torch.as_tensor(C, dtype=torch.float64)), pn.shape)
    res = minimize(
        lambda a: (0.5 * a @ Gn @ a - pn @ a, Gn @ a - pn),
        np.zeros_like(pn),
        jac=True,
        method="L-BFGS-B",
        bounds=list(zip(np.zeros_like(pn), Cv, strict=True)),
        options={"ftol": 1e-15, "gtol": 1e-13, "maxiter": 20000, "maxcor": 30},
    )
    return torch.tensor(res.x)


def active_set_reference(G: torch.Tensor, p: torch.Tensor, C, solver: str) -> torch.Tensor:
    """Exact active-set solution from qpsolvers, clipped into the box (the solvers are
    feasible only up to their tolerance)."""
    qpsolvers = pytest.importorskip("qpsolvers")
    pytest.importorskip(solver)
    B = p.numel()
    Cv = np.broadcast_to(np.asarray(torch.as_tensor(C, dtype=torch.float64)), (B,)).copy()
    # daqp's default proximal tolerance leaves gaps of ~1e-6 on singular problems.
    tight = {"eta_prox": 1e-14, "primal_tol": 1e-12, "dual_tol": 1e-12} if solver == "daqp" else {}
    a = qpsolvers.solve_qp(G.numpy(), -p.numpy(), lb=np.zeros(B), ub=Cv, solver=solver, **tight)
    assert a is not None, f"{solver} failed"
    return torch.tensor(np.clip(a, 0, Cv))


def assert_kkt(G: torch.Tensor, p: torch.Tensor, C, a: torch.Tensor, eps: float) -> None:
    """KKT conditions of the box QP with gradient tolerance ``eps`` (absolute)."""
    Cv = torch.as_tensor(C, dtype=a.dtype).expand_as(a)
    g = G @ a - p
    assert bool(((a >= 0) & (a <= Cv)).all()), "infeasible"
    lower, upper = a == 0, a == Cv
    free = ~lower & ~upper
    assert bool((g[lower & ~upper] >= -eps).all()), "a_i = 0 but (Ga - p)_i < 0"
    assert bool((g[upper & ~lower] <= eps).all()), "a_i = C_i but (Ga - p)_i > 0"
    assert bool((g[free].abs() <= eps).all()), "0 < a_i < C_i but (Ga - p)_i != 0"


# --------------------------------------------------------------------------- references

REFERENCE_CASES = [
    # (B, rank, cond, C, seed)
    (1, 1, 1.0, "scalar", 0),
    (2, 1, 1.0, "vector", 1),
    (7, 7, 1e2, "small", 2),
    (30, 5, 1e4, "scalar", 3),
    (60, 60, 1e10, "vector", 4),
    (80, 20, 1e6, "small", 5),
    (120, 120, 1e8, "scalar", 6),
    (150, 40, 1e10, "vector", 7),
    (200, 1, 1.0, "vector", 8),
    (200, 200, 1e3, "small", 9),
    (250, 100, 1e10, "scalar", 10),
    (300, 300, 1e10, "vector", 11),
    (300, 150, 1e5, "small", 12),
]


@pytest.mark.parametrize(("B", "rank", "cond", "C", "seed"), REFERENCE_CASES)
def test_matches_lbfgsb(B, rank, cond, C, seed):
    _, G, p, bounds = make_problem(B, rank, cond, C, seed)
    res = solve_box_qp(G, p, bounds)
    assert res.converged and res.gap <= 1e-8
    assert relative_gap(G, p, bounds, res.alpha) <= 1e-8
    ref = lbfgsb(G, p, bounds)
    f, f_ref = objective(G, p, res.alpha), objective(G, p, ref)
    # L-BFGS-B stalls on ill-conditioned problems, so it only bounds f from above; where
    # it certifies itself (small gap) the two objectives must agree.
    assert f <= f_ref + 1e-9 * abs(f_ref)
    if relative_gap(G, p, bounds, ref) <= 1e-11:
        assert abs(f - f_ref) <= 1e-9 * abs(f_ref)


@pytest.mark.parametrize(("B", "rank", "cond", "C", "seed"), REFERENCE_CASES)
def test_matches_active_set_solvers(B, rank, cond, C, seed):
    _, G, p, bounds = make_problem(B, rank, cond, C, seed)
    res = solve_box_qp(G, p, bounds)
    refs = [active_set_reference(G, p, bounds, "daqp")]
    if rank == B and cond <= 1e6:
        # quadprog needs a numerically positive definite G.
        refs.append(active_set_reference(G, p, bounds, "quadprog"))
    # Cross-check the references, then compare with the most accurate one.
    gaps = [relative_gap(G, p, bounds, r) for r in refs]
    ref = refs[int(np.argmin(gaps))]
    f, f_ref = objective(G, p, res.alpha), objective(G, p, ref)
    assert abs(f - f_ref) <= 1e-9 * abs(f_ref)
    # G alpha is the same at every optimum, even where alpha is not unique.
    assert float((G @ (res.alpha - ref)).abs().max()) <= 1e-7 * float(p.abs().max())


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_large_problems_match_daqp(seed):
    rng = np.random.default_rng(seed)
    B = int(rng.integers(600, 1001))
    rank = int(rng.integers(1, B + 1))
    _, G, p, bounds = make_problem(B, rank, 10 ** rng.uniform(0, 10), "vector", seed)
    res = solve_box_qp(G, p, bounds)
    ref = active_set_reference(G, p, bounds, "daqp")
    assert res.converged
    f, f_ref = objective(G, p, res.alpha), objective(G, p, ref)
    assert f <= f_ref + 1e-9 * abs(f_ref)
    assert relative_gap(G, p, bounds, res.alpha) <= 1e-8


def test_checks_reject_a_suboptimal_point():
    # The optimality checks above are not vacuous: a slightly perturbed solution fails.
    _, G, p, bounds = make_problem(50, 20, 1e4, "vector", 3)
    a = solve_box_qp(G, p, bounds).alpha
    worse = torch.clamp(a * 0.999, max=bounds)
    assert relative_gap(G, p, bounds, worse) > 1e-8
    assert objective(G, p, worse) > objective(G, p, a) + 1e-9 * abs(objective(G, p, a))
    with pytest.raises(AssertionError):
        assert_kkt(G, p, bounds, worse, 1e-9)


# ------------------------------------------------------------------- property-based tests


@st.composite
def problems(draw):
    B = draw(st.integers(1, 40))
    rank = draw(st.integers(1, B))
    cond = 10 ** draw(st.floats(0, 10))
    C = draw(st.sampled_from(["scalar", "small", "vector"]))
    seed = draw(st.integers(0, 2**31))
    p_scale = 10 ** draw(st.floats(-2, 1))
    return make_problem(B, rank, cond, C, seed, p_scale)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_kkt_conditions(problem):
    J, G, p, bounds = problem
    a = solve_box_qp(G, p, bounds).alpha
    # Gradients are accurate to rounding relative to the terms they are summed from.
    eps = 1e-9 * float((G.abs() @ a).max() + p.abs().max())
    assert_kkt(G, p, bounds, a, eps)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_step_norm_identity(problem):
    # At the optimum ||J^T a||^2 = sum_i a_i p_i - sum_i C_i xi_i, xi_i = max(0, p_i - (G a)_i)
    # (a zero duality gap), with J used directly rather than through G.
    J, G, p, bounds = problem
    a = solve_box_qp(G, p, bounds).alpha
    Cv = torch.as_tensor(bounds, dtype=torch.float64).expand_as(p)
    xi = (p - G @ a).clamp(min=0)
    lhs = float((J.T @ a).square().sum())
    rhs = float(a @ p - Cv @ xi)
    assert abs(lhs - rhs) <= 1e-8 * max(float(a @ p), float(Cv @ xi), 1e-300)


@settings(max_examples=40, deadline=None)
@given(problems(), st.floats(-8, 8))
def test_scale_invariance(problem, log_scale):
    # Scaling G and p by the same factor changes f by that factor, not its minimiser.
    _, G, p, bounds = problem
    a = solve_box_qp(G, p, bounds).alpha
    s = 10.0**log_scale
    b = solve_box_qp(G * s, p * s, bounds)
    assert b.converged and not bool(b.alpha.isnan().any())
    assert float((G @ (b.alpha - a)).abs().max()) <= 1e-7 * float(p.abs().max())


# ------------------------------------------------------------------------- edge cases


def test_result_type_and_exact_bounds():
    _, G, p, _ = make_problem(100, 100, 1e3, "scalar", 21, p_scale=1.0)
    C = torch.linspace(0.001, 0.05, 100, dtype=torch.float64)
    res = solve_box_qp(G, p, C)
    assert isinstance(res, BoxQPResult)
    assert res.alpha.dtype == p.dtype and res.alpha.shape == p.shape
    assert isinstance(res.n_iter, int) and isinstance(res.gap, float)
    a = res.alpha
    at_zero, at_c = a == 0, a == C
    # Both bounds are attained exactly, and nothing sits within rounding of a bound.
    assert int(at_zero.sum()) > 0 and int(at_c.sum()) > 0
    inner = ~at_zero & ~at_c
    assert bool((a[inner] > 1e-12).all()) and bool((C[inner] - a[inner] > 1e-12).all())


@pytest.mark.parametrize(
    "case", ["zero_G", "zero_C", "nonpositive_p", "empty", "zero_rows_and_negative_p"]
)
def test_nothing_to_serve(case):
    _, G, p, _ = make_problem(20, 10, 1e2, "scalar", 5)
    C: float | torch.Tensor = 1.0
    if case == "zero_G":
        G = torch.zeros_like(G)
    elif case == "zero_C":
        C = torch.zeros(20, dtype=torch.float64)
    elif case == "nonpositive_p":
        p = -p
        p[0] = 0.0
    elif case == "empty":
        G, p = G[:0, :0], p[:0]
    else:
        G[:10], G[:, :10] = 0.0, 0.0
        p[10:] = -1.0
    res = solve_box_qp(G, p, C)
    assert res.n_iter == 0 and res.converged and res.gap == 0.0
    assert bool((res.alpha == 0).all()) and res.alpha.shape == p.shape


def test_single_sample():
    G = torch.tensor([[4.0]], dtype=torch.float64)
    inner = solve_box_qp(G, torch.tensor([2.0], dtype=torch.float64), 1.0)
    assert float(inner.alpha) == pytest.approx(0.5, rel=1e-14) and inner.converged
    assert float(solve_box_qp(G, torch.tensor([8.0], dtype=torch.float64), 1.0).alpha) == 1.0


def test_excluded_samples_solve_the_restricted_problem():
    # Samples with p_i <= 0 or a vanishing gradient get 0; the others solve their own QP.
    J, G, p, _ = make_problem(40, 40, 1e2, "scalar", 8, p_scale=1.0)
    p[:5] = -0.5 * p[:5]
    G[5:8], G[:, 5:8] = 0.0, 0.0
    res = solve_box_qp(G, p, 0.5)
    keep = torch.arange(8, 40)
    sub = solve_box_qp(G[keep][:, keep], p[keep], 0.5)
    assert bool((res.alpha[:8] == 0).all())
    torch.testing.assert_close(res.alpha[keep], sub.alpha, rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize("same_p", [True, False])
def test_duplicated_samples(same_p):
    # Repeated rows make G singular; with equal p the optimum is not unique, with
    # different p the null directions are not even bounded by the objective.
    rng = np.random.default_rng(4)
    base = rng.standard_normal((15, 8))
    which = rng.integers(0, 15, 60)
    J = torch.tensor(base[which])
    G = J @ J.T
    p = torch.tensor(rng.uniform(0.1, 1.0, 15)[which] if same_p else rng.uniform(0.1, 1, 60))
    res = solve_box_qp(G, p, 0.3)
    assert res.converged and not bool(res.alpha.isnan().any())
    assert_kkt(G, p, 0.3, res.alpha, 1e-9 * float(G.abs().max() * res.alpha.sum() + 1))
    ref = active_set_reference(G, p, 0.3, "daqp")
    assert objective(G, p, res.alpha) <= objective(G, p, ref) + 1e-9 * abs(objective(G, p, ref))


@pytest.mark.parametrize("log_scale", [-8, 8])
def test_extreme_scales(log_scale):
    # Scaling G alone scales alpha inversely: bounds become (in)active, nothing breaks.
    # With G * 1e8 the bounds (C = 1) exceed alpha by ~1e8, so rounding errors of the
    # gradient weigh 1e8 times more in the gap than its own terms: only ~1e-7 is reachable.
    _, G, p, _ = make_problem(60, 30, 1e6, "vector", 9)
    res = solve_box_qp(G * 10.0**log_scale, p, 1.0)
    assert not bool(res.alpha.isnan().any()) and res.gap <= 1e-6
    assert bool(((res.alpha >= 0) & (res.alpha <= 1)).all())


def test_degenerate_problem_uses_the_fallback(monkeypatch):
    # Rank 3, huge bounds: far more free variables than the rank along the way, the case
    # the interior-point fallback exists for; the answer must still be exactly optimal.
    from sklearn_iw.optim.iw import _qp

    calls = []
    original = _qp._interior_point
    monkeypatch.setattr(
        _qp, "_interior_point", lambda *args: calls.append(args[0].shape[0]) or original(*args)
    )
    rng = np.random.default_rng(0)
    J = torch.tensor(rng.standard_normal((120, 3)))
    G, p = J @ J.T, torch.tensor(rng.uniform(0, 1, 120))
    res = solve_box_qp(G, p, 1e4)
    ref = active_set_reference(G, p, 1e4, "daqp")
    assert calls and res.converged and res.n_iter <= 150
    assert objective(G, p, res.alpha) <= objective(G, p, ref) + 1e-9 * abs(objective(G, p, ref))
    assert_kkt(G, p, 1e4, res.alpha, 1e-9 * float(G.abs().max() * res.alpha.sum() + 1))


@pytest.mark.parametrize(
    ("rank", "shift"),
    [(40, None), (40, 1e-3), (5, None), (5, 1e-3)],
    ids=["plain", "damped", "singular-plain", "singular-damped"],
)
def test_working_set_step_descends_and_keeps_the_block(rank, shift):
    # One step of the Newton iteration on a working-set block, plain (the floor shift)
    # and damped (Levenberg-Marquardt, which rounding alone triggers during a solve).
    # The factorisation shifts the block in place: it must come back bit for bit, and
    # the change of f the step reports must be the one recomputed from the point.
    from sklearn_iw.optim.iw import _qp

    _, H, p, _ = make_problem(40, rank, 1e8, "scalar", 3)
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.uniform(0, 0.5, 40)).masked_fill(torch.arange(40) % 3 == 0, 0.0)
    u = torch.full((40,), 0.5)
    g = H @ x - p
    floor = 4 * 40 * torch.finfo(torch.float64).eps
    steps, kink_ranks = _qp._arc_constants(H.device)
    block = H.clone()
    new, df, candidate, used = _qp._step(
        H, x, g, u, floor if shift is None else shift, floor, steps, kink_ranks, 0.0
    )
    assert torch.equal(H, block)
    assert bool(((new >= 0) & (new <= u)).all())
    assert used >= (floor if shift is None else shift)
    change = objective(H, p, new) - objective(H, p, x)
    assert df < 0 and change == pytest.approx(df, rel=1e-6, abs=1e-12)
    assert candidate in ((0, 1, 2) if shift is None else (0,))


def test_factorisation_raises_the_shift_in_place():
    # An indefinite block (by more than rounding) is factorised with a raised shift,
    # carried by the block itself on return.
    from sklearn_iw.optim.iw import _qp

    H = torch.tensor([[1.0, 0.0], [0.0, -1e-5]], dtype=torch.float64)
    L, used = _qp._factor(H, H.diagonal().max(), 1e-12)
    assert used == pytest.approx(1e-4)  # 1e-12, 1e-10, 1e-8 and 1e-6 fail
    expected = torch.tensor([1.0 + used, used - 1e-5], dtype=torch.float64)
    torch.testing.assert_close(H.diagonal(), expected, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(L @ L.T, H)


def test_float32():
    _, G, p, bounds = make_problem(150, 150, 1e4, "vector", 13)
    G32, p32, C32 = G.float(), p.float(), bounds.float()
    res = solve_box_qp(G32, p32, C32)
    assert res.alpha.dtype == torch.float32 and res.converged and res.gap <= 1e-4
    ref = solve_box_qp(G32.double(), p32.double(), C32.double()).alpha
    assert float((res.alpha.double() - ref).abs().max()) <= 1e-6 * float(ref.max())
    at_c = res.alpha == C32
    assert int(at_c.sum()) > 0 and bool((res.alpha[res.alpha < 1e-30] == 0).all())


def test_batched_equals_one_by_one():
    cases = [make_problem(50, r, 1e5, "vector", s) for s, r in enumerate((50, 10, 1))]
    G = torch.stack([c[1] for c in cases])
    p = torch.stack([c[2] for c in cases])
    C = torch.stack([c[3] for c in cases])
    res = solve_box_qp(G, p, C)
    singles = [solve_box_qp(c[1], c[2], c[3]) for c in cases]
    torch.testing.assert_close(res.alpha, torch.stack([s.alpha for s in singles]))
    assert res.n_iter == max(s.n_iter for s in singles)
    assert res.gap == max(s.gap for s in singles)
    # A common scalar bound broadcasts over the batch.
    torch.testing.assert_close(
        solve_box_qp(G, p, 0.5).alpha[1], solve_box_qp(G[1], p[1], 0.5).alpha
    )


def test_warm_start():
    # The next step's problem (perturbed G and p) from the previous solution: the same
    # optimum in fewer iterations; a warm start outside the box is clipped into it.
    _, G, p, bounds = make_problem(300, 300, 1e4, "scalar", 17)
    a = solve_box_qp(G, p, bounds).alpha
    rng = np.random.default_rng(1)
    E = torch.tensor(rng.standard_normal((300, 300))) * 1e-3 * float(G.diagonal().mean())
    G2, p2 = G + E @ E.T, p * torch.tensor(rng.uniform(0.9, 1.1, 300))
    cold = solve_box_qp(G2, p2, bounds)
    warm = solve_box_qp(G2, p2, bounds, alpha0=a)
    assert warm.converged and warm.n_iter < cold.n_iter
    assert float((G2 @ (warm.alpha - cold.alpha)).abs().max()) <= 1e-7 * float(p2.max())
    wild = solve_box_qp(G2, p2, bounds, alpha0=torch.linspace(-1, 2, 300, dtype=torch.float64))
    assert wild.converged
    assert abs(objective(G2, p2, wild.alpha) - objective(G2, p2, cold.alpha)) <= 1e-9 * abs(
        objective(G2, p2, cold.alpha)
    )


@pytest.mark.parametrize("method", ["newton", "auto"])
def test_unchecked_input_solves_the_same_problem(method):
    """``check_input=False`` (valid tensors of G's dtype) gives the checked solution; the
    checks it skips are what reject a NaN."""
    _, G, p, _ = make_problem(150, 40, 1e3, "vector", 5)
    bounds = torch.tensor(np.random.default_rng(5).uniform(0, 1, 150))
    warm = bounds * 0.5
    checked = solve_box_qp(G, p, bounds, warm, method=method)
    unchecked = solve_box_qp(G, p, bounds, warm, method=method, check_input=False)
    assert torch.equal(checked.alpha, unchecked.alpha) and unchecked.converged
    with pytest.raises(ValueError, match="p contains NaN"):
        solve_box_qp(G, torch.full_like(p, math.nan), bounds, method=method)


def test_max_iter_bounds_the_work():
    _, G, p, bounds = make_problem(100, 100, 1e3, "vector", 2)
    with pytest.warns(ConvergenceWarning, match=r"iteration limit \(max_iter=1\)"):
        res = solve_box_qp(G, p, bounds, max_iter=1)
    assert res.n_iter == 1 and not res.converged
    assert bool(((res.alpha >= 0) & (res.alpha <= bounds)).all())
    with pytest.warns(ConvergenceWarning, match=r"max_iter=0"):
        none = solve_box_qp(G, p, bounds, max_iter=0)
    assert none.n_iter == 0 and bool((none.alpha == 0).all())


def test_alpha_can_enter_autograd():
    _, G, p, _ = make_problem(20, 20, 1e2, "scalar", 0)
    losses = torch.rand(20, dtype=torch.float64, requires_grad=True)
    a = solve_box_qp(G, p, 0.5).alpha
    (a * losses).sum().backward()
    torch.testing.assert_close(losses.grad, a)


def test_duality_gap_helper():
    _, G, p, bounds = make_problem(40, 15, 1e3, "vector", 6)
    a = solve_box_qp(G, p, bounds).alpha
    g = G @ a - p
    expected = a @ G @ a - p @ a + bounds @ (-g).clamp(min=0)
    torch.testing.assert_close(box_qp_duality_gap(G, p, bounds, a), expected)
    assert float(box_qp_duality_gap(G, p, bounds, a)) <= 1e-8 * abs(objective(G, p, a))
    rng = np.random.default_rng(0)
    feasible = torch.tensor(rng.uniform(0, 1, 40)) * bounds
    assert float(box_qp_duality_gap(G, p, bounds, feasible)) >= 0
    batched = box_qp_duality_gap(
        torch.stack([G, G]), torch.stack([p, p]), bounds, torch.stack([a, feasible])
    )
    assert batched.shape == (2,)


# ---------------------------------------------------------------------------- errors


def test_invalid_inputs():
    G = torch.eye(3, dtype=torch.float64)
    p = torch.ones(3, dtype=torch.float64)
    for bad in (float("nan"), float("inf")):
        Gb = G.clone()
        Gb[0, 1] = bad
        with pytest.raises(ValueError, match="G contains NaN"):
            solve_box_qp(Gb, p, 1.0)
        with pytest.raises(ValueError, match="p contains NaN"):
            solve_box_qp(G, torch.tensor([1.0, bad, 1.0], dtype=torch.float64), 1.0)
        with pytest.raises(ValueError, match="C contains NaN"):
            solve_box_qp(G, p, bad)
        with pytest.raises(ValueError, match="alpha0 contains NaN"):
            solve_box_qp(G, p, 1.0, alpha0=torch.tensor([0.0, bad, 0.0]))
    with pytest.raises(ValueError, match="square"):
        solve_box_qp(torch.ones(3, 4, dtype=torch.float64), p, 1.0)
    with pytest.raises(ValueError, match="shape"):
        solve_box_qp(torch.ones(3, dtype=torch.float64), p, 1.0)
    with pytest.raises(ValueError, match="p must have shape"):
        solve_box_qp(G, torch.ones(4, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="C must be"):
        solve_box_qp(G, p, torch.ones(4, dtype=torch.float64))
    with pytest.raises(ValueError, match="alpha0 must have shape"):
        solve_box_qp(G, p, 1.0, alpha0=torch.zeros(2))
    with pytest.raises(ValueError, match="non-negative"):
        solve_box_qp(G, p, torch.tensor([1.0, -1e-12, 1.0], dtype=torch.float64))
    with pytest.raises(ValueError, match="tol"):
        solve_box_qp(G, p, 1.0, tol=0.0)
    with pytest.raises(ValueError, match="max_iter"):
        solve_box_qp(G, p, 1.0, max_iter=-1)
    with pytest.raises(TypeError):
        solve_box_qp(G.long(), p, 1.0)


# ------------------------------------------------------------------------------ CUDA


@CUDA
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cuda_matches_cpu(dtype):
    _, G, p, bounds = make_problem(300, 120, 1e5, "vector", 19)
    G, p, bounds = G.to(dtype), p.to(dtype), bounds.to(dtype)
    cpu = solve_box_qp(G, p, bounds)
    gpu = solve_box_qp(G.cuda(), p.cuda(), bounds.cuda())
    assert gpu.alpha.device.type == "cuda" and gpu.converged
    torch.testing.assert_close(
        gpu.alpha.cpu(), cpu.alpha, rtol=1e-5, atol=1e-7 * float(cpu.alpha.max())
    )


class CountingRows(GramRows):
    """Rows on demand that remember which rows the solver read."""

    def index_select(self, dim: int, index: torch.Tensor) -> torch.Tensor:
        self.read = getattr(self, "read", set()) | set(index.tolist())
        return super().index_select(dim, index)


def gram_rows_problem(dtype: torch.dtype, seed: int = 0, n: int = 400, nan_at: int = -1):
    """Rows on demand and the whole Gram matrix of a small MLP on separable blobs (with
    a NaN feature in sample ``nan_at`` if it is given)."""
    gen = torch.Generator().manual_seed(seed)
    centers = 3.0 * torch.randn(4, 10, generator=gen)
    y = torch.randint(0, 4, (n,), generator=gen)
    X = (centers[y] + torch.randn(n, 10, generator=gen)).to(dtype)
    if nan_at >= 0:
        X[nan_at, 0] = math.nan
    torch.manual_seed(seed)
    model = torch.nn.Sequential(
        torch.nn.Linear(10, 16), torch.nn.Tanh(), torch.nn.Linear(16, 4)
    ).to(dtype)

    def loss(output, target):
        return torch.nn.functional.cross_entropy(output, target, reduction="none")

    rows, losses = per_sample_gram(model, loss, X, y, lazy=True)
    rows.__class__ = CountingRows
    G, _ = per_sample_gram(model, loss, X, y)
    return rows, G, 0.1 * losses.detach().clamp(max=4.0)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_rows_on_demand_give_the_same_solution(dtype):
    rows, G, p = gram_rows_problem(dtype)
    lazy, full = solve_box_qp(rows, p, 1.0), solve_box_qp(G, p, 1.0)
    assert lazy.converged and full.converged
    assert lazy.alpha.dtype == dtype
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    assert float((lazy.alpha - full.alpha).abs().max()) <= tol
    assert torch.equal(lazy.alpha > 0, full.alpha > 0)
    # The point of rows on demand: the solver reads a fraction of them, and only those
    # are stored (capacity at most doubles past them).
    assert 0 < len(rows.read) < 0.8 * p.numel()
    assert rows._cache.shape[0] < min(2 * len(rows.read), p.numel())
    # Warm-started from the solution, the same rows suffice.
    before = len(rows.read)
    warm = solve_box_qp(rows, p, 1.0, alpha0=lazy.alpha)
    assert warm.converged and len(rows.read) <= before + 16
    torch.testing.assert_close(rows.diagonal(), G.diagonal())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_active_set_path_reads_rows_on_demand(dtype, monkeypatch):
    # B = 400 rows on demand go to the float64 active-set path with method='auto'.
    calls, pdas = [], qp_module._pdas

    def spy(G, *args):
        calls.append(G)
        return pdas(G, *args)

    monkeypatch.setattr(qp_module, "_pdas", spy)
    rows, G, p = gram_rows_problem(dtype)
    full = solve_box_qp(G, p, 1.0)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    for alpha0 in (None, full.alpha):
        rows, _, _ = gram_rows_problem(dtype)  # no row read yet
        auto = solve_box_qp(rows, p, 1.0, alpha0=alpha0, method="auto")
        assert auto.converged and auto.alpha.dtype == dtype
        assert float((auto.alpha - full.alpha).abs().max()) <= tol
        assert torch.equal(auto.alpha > 0, full.alpha > 0)
    assert len(calls) == 2 and all(isinstance(view, qp_module._RowGram) for view in calls)
    # Warm-started from the solution it reads the rows of its support and no other.
    assert rows.read == set(torch.nonzero(full.alpha).flatten().tolist())
    assert len(rows.read) < 0.8 * p.numel()


def test_rows_on_demand_reject_non_finite_gradients():
    rows, _, p = gram_rows_problem(torch.float64, nan_at=3)
    with pytest.raises(ValueError, match="G contains NaN"):
        solve_box_qp(rows, p.nan_to_num(0.1), 1.0)


def test_active_set_path_restarts_cold_when_a_warm_start_cycles(monkeypatch):
    # Warm starts from another batch's weights made a fifth of the active-set iterations
    # cycle on batches of 512 (none cold): a failing warm start is simulated here.
    _, G, p, bounds = make_problem(200, 200, 1e3, "vector", 9)
    starts, pdas = [], qp_module._pdas

    def cycles_when_warm(G, p, u, x0):
        starts.append(x0.copy())
        return None if x0.any() else pdas(G, p, u, x0)

    monkeypatch.setattr(qp_module, "_pdas", cycles_when_warm)
    newton = solve_box_qp(G, p, bounds)
    auto = solve_box_qp(G, p, bounds, alpha0=0.5 * bounds, method="auto")
    assert len(starts) == 2 and starts[0].any() and not starts[1].any()
    assert auto.converged and auto.n_iter == 1  # certified by the active-set path
    assert float((auto.alpha - newton.alpha).abs().max()) <= 1e-9


# --------------------------------------------------------------------------- method='auto'
SMALL_CASES = [case for case in REFERENCE_CASES if case[0] <= 128]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("B", "rank", "cond", "C", "seed"), SMALL_CASES)
def test_auto_solves_small_problems_like_the_newton_iteration(B, rank, cond, C, seed, dtype):
    _, G, p, bounds = make_problem(B, rank, cond, C, seed)
    newton = solve_box_qp(G.to(dtype), p.to(dtype), bounds)
    auto = solve_box_qp(G.to(dtype), p.to(dtype), bounds, method="auto")
    assert auto.converged and auto.alpha.dtype == dtype
    a = auto.alpha.double()
    # The same optimum (objective and G alpha), certified by the same gap.
    f, f_newton = objective(G, p, a), objective(G, p, newton.alpha.double())
    tol = 1e-9 if dtype == torch.float64 else 1e-5
    assert abs(f - f_newton) <= tol * abs(f_newton)
    assert float((G @ (a - newton.alpha.double())).abs().max()) <= 1e3 * tol * float(p.max())
    if dtype == torch.float64:
        assert auto.n_iter == 1  # daqp's point certified without a Newton iteration
        assert relative_gap(G, p, bounds, a) <= 1e-8
        assert_kkt(G, p, bounds, a, eps=1e-7 * float(p.max()))


@pytest.mark.parametrize(("rank", "cond"), [(100, 1e3), (30, 1e8)])
def test_auto_puts_bounds_exactly(rank, cond):
    # daqp's proximal regularisation leaves bounds off by rounding; they are snapped.
    _, G, p, _ = make_problem(100, rank, cond, "scalar", 21, p_scale=1.0 if rank == 100 else 0.1)
    C = torch.linspace(0.001, 0.05, 100, dtype=torch.float64)
    a = solve_box_qp(G, p, C, method="auto").alpha
    at_zero, at_c = a == 0, a == C
    assert int(at_zero.sum()) > 0 and int(at_c.sum()) > 0
    inner = ~at_zero & ~at_c
    assert bool((a[inner] > 1e-12).all()) and bool((C[inner] - a[inner] > 1e-12).all())


@pytest.mark.parametrize("failure", ["exitflag", "inexact"])
def test_auto_falls_back_to_the_newton_iteration(monkeypatch, failure):
    import sklearn_iw.optim.iw._qp as qp_module

    _, G, p, bounds = make_problem(60, 20, 1e6, "vector", 4)
    solve = qp_module.daqp.solve

    def broken(H, f, *args, **kwargs):
        x, obj, flag, info = solve(H, f, *args, **kwargs)
        if failure == "exitflag":
            return x * np.nan, obj, -1, info
        info["lam"] = np.zeros_like(info["lam"])  # no bound snapped: an inexact point
        return x * 0.9, obj, flag, info

    monkeypatch.setattr(qp_module.daqp, "solve", broken)
    # The rank-20 problem would be solved by the low-rank path before daqp: keep it out.
    monkeypatch.setattr(qp_module, "_low_rank_factor", lambda G, eps: None)
    res = solve_box_qp(G, p, bounds, method="auto")
    assert res.converged and res.n_iter > 1
    assert relative_gap(G, p, bounds, res.alpha) <= 1e-8


def test_auto_leaves_large_and_batched_problems_to_the_newton_iteration():
    _, G, p, bounds = make_problem(300, 50, 1e4, "scalar", 3)
    torch.testing.assert_close(
        solve_box_qp(G, p, bounds, method="auto").alpha, solve_box_qp(G, p, bounds).alpha,
        rtol=0, atol=0,
    )  # fmt: skip
    Gb, pb = torch.stack([G[:50, :50]] * 2), torch.stack([p[:50]] * 2)
    torch.testing.assert_close(
        solve_box_qp(Gb, pb, 1.0, method="auto").alpha, solve_box_qp(Gb, pb, 1.0).alpha,
        rtol=0, atol=0,
    )  # fmt: skip
    with pytest.raises(ValueError, match="method must be"):
        solve_box_qp(G, p, bounds, method="daqp")


# ------------------------------------------------ method='auto': the numpy active-set path
PDAS_CASES = [case for case in REFERENCE_CASES if case[0] <= 256 and case[1] == case[0]]


@pytest.mark.parametrize("warm", [False, True])
@pytest.mark.parametrize(("B", "rank", "cond", "C", "seed"), PDAS_CASES)
def test_auto_solves_full_rank_problems_by_the_active_set_iteration(B, rank, cond, C, seed, warm):
    # Full-rank faces: the primal-dual active-set iteration alone (one iteration counted),
    # from scratch or from a perturbed optimum, to the daqp reference's optimum.
    _, G, p, bounds = make_problem(B, rank, cond, C, seed)
    ref = active_set_reference(G, p, bounds, "daqp")
    start = None
    if warm:
        noise = torch.tensor(np.random.default_rng(seed).uniform(0.5, 1.5, B))
        start = (ref * noise).clamp(min=0).minimum(torch.as_tensor(bounds).expand(B))
    res = solve_box_qp(G, p, bounds, start, method="auto")
    assert res.converged and res.n_iter == 1
    assert relative_gap(G, p, bounds, res.alpha) <= 1e-8
    assert abs(objective(G, p, res.alpha) - objective(G, p, ref)) <= 1e-9 * abs(
        objective(G, p, ref)
    )
    assert_kkt(G, p, bounds, res.alpha, eps=1e-7 * float(p.max()))


def test_active_set_iteration_gives_up_on_singular_faces():
    import sklearn_iw.optim.iw._qp as qp_module

    _, G, p, bounds = make_problem(60, 20, 1e2, "scalar", 13)
    u = np.broadcast_to(np.asarray(bounds, dtype=np.float64), (60,)).copy()
    # From zero every variable is free first: a rank-20 face of 60 cannot be factorised.
    assert qp_module._pdas(G.numpy(), p.numpy(), u, np.zeros(60)) is None
    res = solve_box_qp(G, p, bounds, method="auto")  # the low-rank path solves it
    assert res.converged and relative_gap(G, p, bounds, res.alpha) <= 1e-8


def test_active_set_iteration_puts_bounds_exactly():
    _, G, p, _ = make_problem(150, 150, 1e3, "scalar", 21, p_scale=1.0)
    C = torch.linspace(0.001, 0.05, 150, dtype=torch.float64)
    res = solve_box_qp(G, p, C, method="auto")
    a = res.alpha
    assert res.n_iter == 1 and int((a == 0).sum()) > 0 and int((a == C).sum()) > 0
    inner = (a != 0) & (a != C)
    assert bool((a[inner] > 1e-12).all()) and bool((C[inner] - a[inner] > 1e-12).all())


# ------------------------------------------ method='auto': the low-rank path (B > rank)
LOW_RANK_CASES = [
    # (rank, cond, C, seed, p_scale): B = 200 samples whose gradients span rank dimensions,
    # as a linear model's per-sample gradients (parameters fewer than the batch).
    (3, 1.0, "scalar", 30, 0.1),
    (3, 1e2, "vector", 31, 1.0),
    (5, 1e3, "small", 32, 0.1),
    (8, 1e4, "vector", 33, 0.1),
    (11, 1e2, "scalar", 34, 1.0),
    (11, 1e6, "vector", 35, 0.1),
    (15, 1e3, "small", 36, 1.0),
    (20, 1e8, "scalar", 37, 0.1),
    (20, 1e3, "vector", 38, 1.0),
]


def _uses_low_rank_path(monkeypatch) -> list:
    """Record what the low-rank path returns; the full-rank active-set iteration is left
    out (it solves some of these problems first, where the optimal face is regular) and
    daqp and the Newton iteration must not run."""
    import sklearn_iw.optim.iw._qp as qp_module

    found = []
    low_rank = qp_module._low_rank

    def spy(*args):
        found.append(low_rank(*args))
        return found[-1]

    def forbidden(*args, **kwargs):
        raise AssertionError("the low-rank path should have solved the problem")

    monkeypatch.setattr(qp_module, "_low_rank", spy)
    monkeypatch.setattr(qp_module, "_pdas", lambda *args: None)
    monkeypatch.setattr(qp_module, "_daqp", forbidden)
    monkeypatch.setattr(qp_module, "_solve_one", forbidden)
    return found


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("rank", "cond", "C", "seed", "p_scale"), LOW_RANK_CASES)
def test_low_rank_path_matches_active_set_solvers(monkeypatch, rank, cond, C, seed, p_scale, dtype):
    # More samples than the rank: the factor's interior point and the exact finish, against
    # daqp and quadprog (on a positive definite G + 1e-9 I, which moves f by < 1e-9 f), with
    # the KKT conditions, exact bounds and the w = J^T alpha that every optimum shares.
    B = 200
    J, G, p, bounds = make_problem(B, rank, cond, C, seed, p_scale=p_scale)
    found = _uses_low_rank_path(monkeypatch)
    res = solve_box_qp(G.to(dtype), p.to(dtype), bounds, method="auto")
    assert found and found[0] is not None and res.converged and res.n_iter == 1
    a = res.alpha.double()
    tol = 1e-8 if dtype == torch.float64 else 1e-4
    assert relative_gap(G, p, bounds, a) <= tol
    refs = [active_set_reference(G, p, bounds, "daqp")]
    ridge = 1e-9 * float(G.diagonal().mean())
    refs.append(active_set_reference(G + ridge * torch.eye(B), p, bounds, "quadprog"))
    ref = refs[int(np.argmin([relative_gap(G, p, bounds, r) for r in refs]))]
    f, f_ref = objective(G, p, a), objective(G, p, ref)
    if dtype == torch.float64:
        assert f <= f_ref + 1e-10 * abs(f_ref)
        assert abs(f - f_ref) <= 1e-9 * abs(f_ref)
        w, w_ref = J.T @ a, J.T @ ref
        assert float((w - w_ref).norm()) <= 1e-6 * float(w_ref.norm())
        assert_kkt(G, p, bounds, a, eps=1e-9 * float(p.max()))
    else:
        assert abs(f - f_ref) <= 1e-4 * abs(f_ref)
    # Exact bounds; at most as many strictly free samples as the rank (a vertex of the
    # optimal face, which the finish returns on these non-degenerate problems).
    Cv = torch.as_tensor(bounds, dtype=res.alpha.dtype).expand(B)
    at_zero, at_c = res.alpha == 0, res.alpha == Cv
    free = ~at_zero & ~at_c
    assert int(free.sum()) <= rank
    assert bool((res.alpha[free] > 0).all()) and bool((res.alpha[free] < Cv[free]).all())


def test_low_rank_path_warm_start_and_duplicates(monkeypatch):
    # Duplicated samples make faces singular even at the optimum: the finish solves them in
    # the least-squares sense; a warm start gives the same step.
    J, G, p, _ = make_problem(100, 6, 1e2, "scalar", 40)
    J2 = torch.cat([J, J[:100]])
    G2, p2 = J2 @ J2.T, torch.cat([p, p])
    C = torch.cat([torch.full((100,), 0.5), torch.full((100,), 0.25)]).double()
    # Duplicates with bounds 0.5 and 0.25 act as one sample with bound 0.75.
    merged = solve_box_qp(G, p, 0.75, method="newton")
    found = _uses_low_rank_path(monkeypatch)
    res = solve_box_qp(G2, p2, C, method="auto")
    assert found[-1] is not None and res.converged
    again = solve_box_qp(G2, p2, C, alpha0=res.alpha, method="auto")
    assert again.converged
    for alpha in (res.alpha, again.alpha):
        w = J2.T @ alpha
        torch.testing.assert_close(w, J.T @ merged.alpha, rtol=1e-7, atol=1e-10)
        assert_kkt(G2, p2, C, alpha, eps=1e-9 * float(p.max()))


def test_low_rank_factor_reveals_the_rank():
    import sklearn_iw.optim.iw._qp as qp_module

    eps = float(np.finfo(np.float64).eps)
    for rank in (1, 7, 60):
        J, G, _, _ = make_problem(80, rank, 1e4, "scalar", rank)
        F = qp_module._low_rank_factor(G.numpy(), eps)
        if rank == 80:
            assert F is None
            continue
        assert F.shape == (80, rank)
        np.testing.assert_allclose(F @ F.T, G.numpy(), atol=1e-12 * float(G.diagonal().max()))
    _, G, _, _ = make_problem(80, 80, 1e2, "scalar", 0)
    assert qp_module._low_rank_factor(G.numpy(), eps) is None  # full rank: no factor


def test_large_batch_of_few_parameters_takes_the_low_rank_path(monkeypatch):
    """A batch of 1500 samples through a linear model of 22 parameters: ``GramRows``
    bounds the rank by the parameter count, and the low-rank path (not the large path's
    B x B Newton systems) solves it to the large path's optimum, with exact bounds."""
    torch.manual_seed(0)
    B = 1500
    model = torch.nn.Linear(10, 2).double()
    X = torch.randn(B, 10, dtype=torch.float64)
    y = (X[:, 0] + 0.5 * torch.randn(B, dtype=torch.float64) > 0).long()

    def loss(output, target):
        return torch.nn.functional.cross_entropy(output, target, reduction="none")

    rows, E = per_sample_gram(model, loss, X, y, lazy=True)
    assert rows.rank_bound == 22
    p = 0.5 * E.detach()
    G = rows.full()
    reference = solve_box_qp(G, p, 1.0)  # a dense tensor: no rank bound, the large path
    found = _uses_low_rank_path(monkeypatch)
    res = solve_box_qp(rows, p, 1.0, method="auto")
    assert found and found[-1] is not None and res.converged
    assert relative_gap(G, p, 1.0, res.alpha) <= 1e-8
    f, f_ref = objective(G, p, res.alpha), objective(G, p, reference.alpha)
    assert abs(f - f_ref) <= 1e-8 * abs(f_ref)
    at_zero, at_c = res.alpha == 0, res.alpha == 1.0
    assert int((~at_zero & ~at_c).sum()) <= 22 and at_zero.any() and at_c.any()


def test_qp_at_its_iteration_limit_warns_and_returns_its_best_feasible_point():
    rng = np.random.RandomState(0)
    J = torch.as_tensor(rng.randn(60, 8))
    G, p = J @ J.T, torch.as_tensor(rng.uniform(0.1, 1.0, 60))
    C = torch.full((60,), 0.3, dtype=torch.float64)

    def f(a):
        return float(0.5 * a @ G @ a - p @ a)

    exact = solve_box_qp(G, p, C)
    assert exact.converged
    values = []
    for limit in (1, 2, 3):
        with pytest.warns(ConvergenceWarning, match=f"iteration limit \\(max_iter={limit}\\)"):
            res = solve_box_qp(G, p, C, max_iter=limit)
        assert not res.converged and res.n_iter == limit
        assert bool(((res.alpha >= 0) & (res.alpha <= C)).all())
        values.append(f(res.alpha))
    # Each iteration lowers the objective: the point returned is the best one reached.
    assert values[0] < 0.0 == f(torch.zeros(60, dtype=torch.float64))
    assert values == sorted(values, reverse=True) and values[-1] >= f(exact.alpha)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        solve_box_qp(G, p, C, max_iter=exact.n_iter)

"""Benchmark of the box-QP solver of importance-weights steps (``solve_box_qp``).

Problems come from real per-sample gradients: an MLP 64-64(tanh)-10 trained for two
epochs with Adam (learning rate 1e-3, batches of 64) on scaled ``load_digits``. For a batch
of B samples, ``J`` stacks their gradients (``torch.func.vmap(grad(functional_call))``),
``G = J J^T``, ``p_i = 0.1 min(loss_i, 4)`` and ``C = 1``. Batches larger than the 1797
digits append copies of the digits with Gaussian noise (standard deviation 0.1 in scaled
units), the near-duplicates data augmentation produces; past 4810 samples (the number of
parameters) ``G`` is singular.

Every problem is solved cold (from 0) and warm: after the step ``dw = -J^T alpha`` the
model's ``G`` and ``p`` for the same samples are recomputed and solved from the previous
``alpha`` (stock solvers get it as their initial guess where they take one). Our solver
also solves that second problem from 0 (``scratch`` rows): the warm-start target compares
the two starts on the same problem. float64 and
float32 Gram matrices are benchmarked; stock solvers always work in float64 (their float32
rows solve the float32 Gram matrix upcast), and in float32 rows every answer is rounded to
float32 before it is judged.

Solvers: ours, the qpsolvers backends daqp, osqp, proxqp, quadprog and clarabel (daqp and
quadprog with their default settings, the others at 1e-9 tolerances), and scipy's L-BFGS-B
(``ftol=1e-15``, ``gtol=1e-12``). All are judged by the same relative duality gap (that of
``solve_box_qp``, on the answer clipped into the box) and objective. A stock solver is
*accurate* when its gap is at most 1e-6 (1e-4 in float32 rows, the tolerance floor of
float32 answers); ``ratio`` is the time of the fastest accurate stock solver of the row's
group (same B, precision, start) divided by the row's time. A stock solver is skipped at a
size where its time extrapolated from the previous size (as B^3) exceeds 60 s.

Times are medians of repeated wall-clock runs, ours after one untimed warm-up run, stock
solvers without warm-up and with a single run when it takes over a second. ``--threads``
(``_threads.py``): every time pinned to one thread (torch and the stock solvers' BLAS), at
the libraries' defaults, or both (the default), in adjacent rows; ratios and targets are
taken within a setting. ``--device cuda`` times our solver only (the
stock solvers are CPU code), with ``torch.cuda.synchronize``.

Run with ``python benchmarks/bench_qp.py [--device cpu|cuda] [--sizes 100,500,2000,8000]
[--quick] [--threads both|1|default]`` (``PYTHONPATH=.`` if the package is not
installed).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from _threads import add_threads_argument, describe, selected, threads
from sklearn.datasets import load_digits
from sklearn.preprocessing import StandardScaler
from torch import nn
from torch.func import functional_call, grad, vmap

try:
    from sklearn_iw.solvers import box_qp_duality_gap, solve_box_qp
except ImportError:
    # A machine with torch but without the package's other dependencies (a bare GPU box):
    # the solver module only needs torch, so load it on its own.
    import importlib.util
    from pathlib import Path

    _path = Path(__file__).resolve().parents[1] / "sklearn_iw" / "optim" / "iw" / "_qp.py"
    _spec = importlib.util.spec_from_file_location("sklearn_iw_qp", _path)
    _qp = importlib.util.module_from_spec(_spec)
    _spec.loader.exec_module(_qp)
    box_qp_duality_gap, solve_box_qp = _qp.box_qp_duality_gap, _qp.solve_box_qp

STOCK_TIME_LIMIT = 60.0
ACCURATE = {torch.float64: 1e-6, torch.float32: 1e-4}
STOCK_OPTIONS = {
    "daqp": {},
    "osqp": {"eps_abs": 1e-9, "eps_rel": 1e-9, "max_iter": 100000, "polish": True},
    "proxqp": {"eps_abs": 1e-9, "eps_rel": 0.0},
    "quadprog": {},
    "clarabel": {"tol_gap_abs": 1e-9, "tol_gap_rel": 1e-9, "tol_feas": 1e-9},
}


@dataclass
class Row:
    B: int
    precision: str
    start: str
    solver: str
    ms: float | None
    gap: float = float("nan")
    objective: float = float("nan")
    nnz: int = 0
    note: str = ""
    threads: str = ""
    ratio: float = float("nan")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(
    fn: Callable[[], object], device: torch.device, repeats: int, warm_up: bool
) -> tuple[float, object]:
    """Median wall time (seconds) of ``repeats`` runs and the last result, after one
    untimed run if ``warm_up`` (which pays one-off costs such as loading CUDA kernels).
    Without warm-up the first run is timed, and is the only one when it exceeds 1 s."""
    if warm_up:
        fn()
    times: list[float] = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        result = fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
        if not warm_up and times[0] > 1.0:
            break
    return statistics.median(times), result


# --------------------------------------------------------------------------- problems


def digits(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Scaled digits (training set) and a batch of ``n`` samples: the digits, then noisy
    copies of them (standard deviation 0.1) for as long as needed."""
    X, y = load_digits(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    rng = np.random.default_rng(seed)
    copies = [X] + [X + 0.1 * rng.standard_normal(X.shape) for _ in range(-(-n // len(X)) - 1)]
    Xb = np.concatenate(copies)[:n]
    yb = np.tile(y, len(copies))[:n]
    as_t = torch.tensor
    return as_t(X, dtype=torch.float32), as_t(y), as_t(Xb, dtype=torch.float32), as_t(yb)


def trained_mlp(X: torch.Tensor, y: torch.Tensor, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for _ in range(2):
        for batch in torch.randperm(len(X)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(model(X[batch]), y[batch]).backward()
            opt.step()
    return model


def gram_problem(
    model: nn.Module, X: torch.Tensor, y: torch.Tensor, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(G, p, J)`` of the batch: per-sample gradients ``J`` by ``torch.func``."""
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(prm: dict[str, torch.Tensor], x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        out = functional_call(model, prm, (x.unsqueeze(0),))
        return nn.functional.cross_entropy(out, t.unsqueeze(0))

    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))
    chunks = []
    for xs, ts in zip(X.split(2048), y.split(2048), strict=True):
        grads = per_sample(params, xs, ts)
        chunks.append(torch.cat([g.reshape(len(xs), -1) for g in grads.values()], 1))
    J = torch.cat(chunks).to(dtype)
    with torch.no_grad():
        losses = nn.functional.cross_entropy(model(X), y, reduction="none")
    return J @ J.T, (0.1 * losses.clamp(max=4.0)).to(dtype), J


def take_step(model: nn.Module, J: torch.Tensor, alpha: torch.Tensor) -> None:
    """The importance-weights step ``dw = -J^T alpha``."""
    step = -(J.T @ alpha.to(J.dtype)).float()
    with torch.no_grad():
        offset = 0
        for prm in model.parameters():
            prm += step[offset : offset + prm.numel()].view_as(prm)
            offset += prm.numel()


# ---------------------------------------------------------------------------- solvers


def judge(G: torch.Tensor, p: torch.Tensor, alpha: torch.Tensor) -> tuple[float, float, int]:
    """Relative gap (``solve_box_qp``'s definition), objective and nnz of ``alpha``,
    rounded to the problem's dtype and clipped into the box."""
    a = alpha.to(device=G.device, dtype=G.dtype).clamp(0.0, 1.0).double()
    Gd, pd = G.double(), p.double()
    g = Gd @ a - pd
    primal = 0.5 * a @ (g + pd) + (-g).clamp(min=0).sum()
    gap = box_qp_duality_gap(Gd, pd, 1.0, a)
    objective = 0.5 * a @ (g - pd)
    return float(gap / primal), float(objective), int((a > 0).sum())


def stock_solver(name: str, G: torch.Tensor, p: torch.Tensor, init: torch.Tensor | None):
    Gn, pn = G.double().cpu().numpy(), p.double().cpu().numpy()
    n = len(pn)
    x0 = None if init is None else init.double().cpu().numpy()
    if name == "lbfgsb":
        from scipy.optimize import minimize

        def run() -> np.ndarray:
            res = minimize(
                lambda a: (0.5 * a @ Gn @ a - pn @ a, Gn @ a - pn),
                np.zeros(n) if x0 is None else x0,
                jac=True,
                method="L-BFGS-B",
                bounds=[(0.0, 1.0)] * n,
                options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 100000},
            )
            return res.x

        return run
    from qpsolvers import solve_qp

    def run() -> np.ndarray | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dense-to-sparse conversions, ignored initvals
            return solve_qp(
                Gn,
                -pn,
                lb=np.zeros(n),
                ub=np.ones(n),
                solver=name,
                initvals=x0,
                **STOCK_OPTIONS[name],
            )

    return run


def available_stock() -> list[str]:
    try:
        import qpsolvers
    except ImportError:
        names = []
    else:
        names = [s for s in STOCK_OPTIONS if s in qpsolvers.available_solvers]
    return [*names, "lbfgsb"]


# ------------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--sizes", default=None, help="comma-separated batch sizes")
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    add_threads_argument(parser)
    args = parser.parse_args()
    device = torch.device(args.device)
    default_sizes = "100,500" if args.quick else "100,500,2000,8000"
    sizes = [int(s) for s in (args.sizes or default_sizes).split(",")]
    repeats = 3 if args.quick else 7
    settings = selected(args.threads)
    stock = available_stock() if device.type == "cpu" else []
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    print(f"device: {where}; {describe(settings)}; stock solvers: {', '.join(stock) or 'none'}")
    X, y, Xall, yall = digits(max(sizes))
    base = trained_mlp(X, y)
    rows: list[Row] = []
    last_time: dict[tuple[str, str, str, str], tuple[int, float]] = {}
    for B in sizes:
        Xb, yb = Xall[:B].to(device), yall[:B].to(device)
        for dtype in (torch.float64, torch.float32):
            precision = "fp64" if dtype == torch.float64 else "fp32"
            model = copy.deepcopy(base).to(device)
            G, p, J = gram_problem(model, Xb, yb, dtype)
            cold = solve_box_qp(G, p, 1.0)
            take_step(model, J, cold.alpha)
            G2, p2, _ = gram_problem(model, Xb, yb, dtype)
            problems = {
                "cold": (G, p, None),
                "warm": (G2, p2, cold.alpha),
                "scratch": (G2, p2, None),  # ours only: the warm problem from 0
            }
            for start, (Gs, ps, init) in problems.items():
                for setting in settings:
                    with threads(setting):
                        rows += solve_all(
                            (B, precision, start, setting), Gs, ps, init, stock, repeats, last_time
                        )
    print_table(rows)
    print_targets(rows, device)


def solve_all(
    problem: tuple[int, str, str, str],
    G: torch.Tensor,
    p: torch.Tensor,
    init: torch.Tensor | None,
    stock: list[str],
    repeats: int,
    last_time: dict[tuple[str, str, str, str], tuple[int, float]],
) -> list[Row]:
    """Rows of our solver and the stock ones (not on 'scratch' problems) on one problem,
    ``(B, precision, start, thread setting)``, under the thread setting in force.
    ``last_time`` holds each stock solver's latest (B, seconds), to skip sizes it would
    take too long on."""
    B, precision, start, setting = problem
    seconds, res = timed(lambda: solve_box_qp(G, p, 1.0, init), G.device, repeats, warm_up=True)
    gap, obj, nnz = judge(G, p, res.alpha)
    rows = [
        Row(B, precision, start, "ours", 1e3 * seconds, gap, obj, nnz, f"{res.n_iter} it", setting)
    ]
    for name in stock if start != "scratch" else []:
        key = (name, precision, start, setting)
        if key in last_time:
            B0, t0 = last_time[key]
            estimate = t0 * (B / B0) ** 3
            if estimate > STOCK_TIME_LIMIT:
                note = f"skipped (~{estimate:.0f} s)"
                rows.append(Row(B, precision, start, name, None, note=note, threads=setting))
                continue
        run = stock_solver(name, G, p, init)
        seconds, sol = timed(run, torch.device("cpu"), 3, warm_up=False)
        last_time[key] = (B, seconds)
        if sol is None:
            rows.append(
                Row(B, precision, start, name, 1e3 * seconds, note="failed", threads=setting)
            )
            continue
        gap, obj, nnz = judge(G, p, torch.from_numpy(np.asarray(sol)))
        rows.append(Row(B, precision, start, name, 1e3 * seconds, gap, obj, nnz, threads=setting))
    return rows


def print_table(rows: list[Row]) -> None:
    groups: dict[tuple[int, str, str, str], float] = {}
    for r in rows:
        if r.solver != "ours" and r.ms is not None and r.gap <= ACCURATE[_dtype(r.precision)]:
            key = (r.B, r.precision, r.start, r.threads)
            groups[key] = min(groups.get(key, float("inf")), r.ms)
    for r in rows:
        best = groups.get((r.B, r.precision, r.start, r.threads))
        if best is not None and r.ms:
            r.ratio = best / r.ms
    header = f"{'B':>5} {'prec':>4} {'start':>5} {'solver':>8} {'threads':>7} {'ms':>10} "
    header += f"{'rel gap':>9} {'objective':>19} {'nnz':>5} {'ratio':>8}  note"
    print(header)
    print("-" * len(header))
    for r in rows:
        ms = f"{r.ms:10.2f}" if r.ms is not None else f"{'-':>10}"
        ratio = f"{r.ratio:8.1f}" if r.ratio == r.ratio else f"{'-':>8}"
        accurate = r.gap <= ACCURATE[_dtype(r.precision)]
        note = r.note if accurate or r.ms is None or r.note else "inaccurate"
        print(
            f"{r.B:>5} {r.precision:>4} {r.start:>5} {r.solver:>8} {r.threads:>7} {ms} "
            f"{r.gap:9.1e} {r.objective:19.12e} {r.nnz:>5} {ratio}  {note}"
        )


def print_targets(rows: list[Row], device: torch.device) -> None:
    ours = {(r.B, r.precision, r.start, r.threads): r for r in rows if r.solver == "ours"}
    print()
    if device.type == "cuda":
        for (B, precision, start, setting), r in sorted(ours.items()):
            if precision == "fp32" and start == "cold" and B >= 8000:
                verdict = "met" if r.ms < 50 else "MISSED"
                print(
                    f"target B={B} fp32 cold < 50 ms on the GPU, threads {setting}: "
                    f"{r.ms:.1f} ms ({verdict})"
                )
        return
    settings = sorted({r.threads for r in rows})
    for B, want in ((500, 20), (2000, 100)):
        for setting in settings:
            r = ours.get((B, "fp64", "cold", setting))
            if r is not None and r.ratio == r.ratio:
                verdict = "met" if r.ratio >= want else "MISSED"
                print(
                    f"target B={B} cold >= {want}x the fastest accurate stock, threads "
                    f"{setting}: {r.ratio:.1f}x ({verdict})"
                )
    for (B, precision, start, setting), r in sorted(ours.items()):
        if start == "warm":
            speedup = ours[(B, precision, "scratch", setting)].ms / r.ms
            verdict = "met" if speedup >= 3 else "MISSED"
            print(
                f"target B={B} {precision} warm >= 3x faster than cold, threads {setting}: "
                f"{speedup:.1f}x ({verdict})"
            )


def _dtype(precision: str) -> torch.dtype:
    return torch.float64 if precision == "fp64" else torch.float32


if __name__ == "__main__":
    main()

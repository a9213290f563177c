"""
=====================================
Optimizer paths on two test functions
=====================================

Paths of the optimizers on an ill-conditioned quadratic and on Rosenbrock's function.

Each optimizer spec builds its torch optimizer over one 2-D parameter and takes
``step(closure)`` as during training. Every rule gets its own panel over the contour
lines (as the lectures draw them), after a first panel that overlays all the paths.
The hyperparameters are picked per function so that each path shows its rule's
character: the specs' defaults are tuned for training networks, not for these scales.
SGD sees the exact gradient plus Gaussian noise, standing in for minibatch sampling.

Usage: ``python examples/plot_optimizer_paths.py [output.png]`` (default:
``optimizer_paths.png`` in the current directory).
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from sklearn_iw.solvers import OPTIMIZERS  # noqa: E402

Objective = Callable[[torch.Tensor], torch.Tensor]


def quadratic(w: torch.Tensor) -> torch.Tensor:
    """Return ``(x**2 + 20 * y**2) / 2``, condition number 20, minimum at the origin.

    Parameters
    ----------
    w : Tensor of shape (2,)
        The point ``(x, y)``.

    Returns
    -------
    value : Tensor
    """
    return 0.5 * (w[0] ** 2 + 20.0 * w[1] ** 2)


def rosenbrock(w: torch.Tensor) -> torch.Tensor:
    """Return Rosenbrock's banana ``(1 - x)**2 + 100 * (y - x**2)**2``, minimum at (1, 1).

    Parameters
    ----------
    w : Tensor of shape (2,)
        The point ``(x, y)``.

    Returns
    -------
    value : Tensor
    """
    return (1.0 - w[0]) ** 2 + 100.0 * (w[1] - w[0] ** 2) ** 2


# Per function: objective, start, minimum, number of steps, plot window, contour levels,
# gradient noise of SGD and the hyperparameters of every optimizer.
PROBLEMS = {
    "quadratic": {
        "objective": quadratic,
        "start": (-4.5, 1.5),
        "minimum": (0.0, 0.0),
        "n_steps": 60,
        "window": ((-5.0, 2.0), (-2.0, 2.0)),
        "levels": np.geomspace(0.01, 60.0, 14),
        "noise": 3.0,
        "hyper": {
            "gd": {"lr": 0.09},
            "sgd": {"lr": 0.05},
            "momentum": {"lr": 0.09, "momentum": 0.8},
            "nesterov": {"lr": 0.02, "momentum": 0.8},
            "adagrad": {"lr": 1.0},
            "rmsprop": {"lr": 0.2},
            "adadelta": {"lr": 1.0, "eps": 1e-2},
            "adam": {"lr": 0.2},
            "rprop": {"lr": 0.1},
            "quickprop": {"lr": 0.02},
            "delta_delta": {"lr": 0.02, "gamma": 1e-3, "lr_max": 0.09},
            "delta_bar_delta": {"lr": 0.02, "kappa": 0.005},
            "lbfgs": {"max_iter": 1},
            "cg": {},
            "bfgs": {},
            "newton": {"cg_tol": 1e-6},  # nearly exact Newton steps
        },
    },
    "Rosenbrock": {
        "objective": rosenbrock,
        "start": (-1.5, 2.0),
        "minimum": (1.0, 1.0),
        "n_steps": 1500,
        "window": ((-2.0, 2.0), (-1.0, 3.0)),
        "levels": np.geomspace(0.1, 2000.0, 16),
        "noise": 20.0,
        "hyper": {
            "gd": {"lr": 1e-3},
            "sgd": {"lr": 5e-4},
            "momentum": {"lr": 2e-3, "momentum": 0.9},
            "nesterov": {"lr": 3e-4, "momentum": 0.9},
            "adagrad": {"lr": 0.3},
            "rmsprop": {"lr": 0.01},
            "adadelta": {"lr": 1.0, "eps": 1e-6},
            "adam": {"lr": 0.05},
            "rprop": {"lr": 0.01},
            "quickprop": {"lr": 1e-3},
            "delta_delta": {"lr": 1e-3, "gamma": 1e-7, "lr_max": 2e-3},
            "delta_bar_delta": {"lr": 1e-3, "kappa": 1e-4},
            "lbfgs": {"max_iter": 1},
            "cg": {},
            "bfgs": {},
            "newton": {"cg_tol": 1e-6},  # nearly exact Newton steps
        },
    },
}


def optimizer_path(
    name: str,
    hyper: dict[str, float],
    objective: Objective,
    start: tuple[float, float],
    n_steps: int,
    noise: float,
    seed: int = 0,
) -> np.ndarray:
    """Run one optimizer from ``start`` and return the visited points.

    Parameters
    ----------
    name : str
        Key of the optimizer in ``OPTIMIZERS``.
    hyper : dict
        Hyperparameters of its spec.
    objective : callable
        Function of a 2-D tensor to minimize.
    start : tuple of float
        Starting point.
    n_steps : int
        Number of ``step`` calls.
    noise : float
        Standard deviation of the Gaussian noise added to SGD's gradient.
    seed : int, default=0
        Seed of that noise.

    Returns
    -------
    path : ndarray of shape (n_steps + 1, 2)
        The starting point, then the point after each step (the path stops early if it
        leaves the float range), without the steps at its end that no longer move (the
        line-search methods have converged, or no step satisfies their line search).
    """
    w = torch.nn.Parameter(torch.tensor(start, dtype=torch.float64))
    spec = OPTIMIZERS[name](**hyper)
    optimizer = spec.build([w])
    generator = torch.Generator().manual_seed(seed)
    noise = noise if name == "sgd" else 0.0

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = objective(w)
        if spec.needs_graph:  # Newton differentiates the loss itself (twice)
            return loss
        loss.backward()
        w.grad += noise * torch.randn(2, generator=generator, dtype=torch.float64)
        return loss

    path = [w.detach().numpy().copy()]
    for _ in range(n_steps):
        optimizer.step(closure)
        if not torch.isfinite(w).all():
            break
        path.append(w.detach().numpy().copy())
    while len(path) > 1 and np.array_equal(path[-1], path[-2]):
        path.pop()
    return np.array(path)


def draw_contours(ax: plt.Axes, problem: dict) -> None:
    """Draw the contour lines, the start and the minimum of a problem.

    Parameters
    ----------
    ax : matplotlib Axes
        Where to draw.
    problem : dict
        An entry of ``PROBLEMS``.
    """
    (x_low, x_high), (y_low, y_high) = problem["window"]
    x, y = np.meshgrid(np.linspace(x_low, x_high, 200), np.linspace(y_low, y_high, 200))
    z = problem["objective"](torch.from_numpy(np.stack([x, y]))).numpy()
    ax.contour(x, y, z, levels=problem["levels"], colors="0.75", linewidths=0.6)
    ax.plot(*problem["start"], "ko", markersize=3)
    ax.plot(*problem["minimum"], "k*", markersize=8)
    ax.set_xlim(x_low, x_high)
    ax.set_ylim(y_low, y_high)
    ax.set_xticks([])
    ax.set_yticks([])


def main(output: str) -> None:
    """Compute every path and save the figure.

    Parameters
    ----------
    output : str
        Path of the PNG file to write.
    """
    # Importance weights need a loss made of samples (a QP over per-sample gradients); a
    # 2-D test function has none, so the gradient rules are drawn.
    names = [name for name in OPTIMIZERS if name != "importance_weights"]
    n_cols = 7
    n_rows_per_problem = -(-(len(names) + 1) // n_cols)
    fig, axes = plt.subplots(
        n_rows_per_problem * len(PROBLEMS),
        n_cols,
        figsize=(2.4 * n_cols, 2.3 * n_rows_per_problem * len(PROBLEMS)),
    )
    colors = plt.get_cmap("tab20")(np.linspace(0, 1, len(names)))
    for p, (title, problem) in enumerate(PROBLEMS.items()):
        block = axes[p * n_rows_per_problem : (p + 1) * n_rows_per_problem].ravel()
        overview = block[0]
        draw_contours(overview, problem)
        overview.set_title(f"{title}: all", fontsize=9)
        for ax, name, color in zip(block[1:], names, colors, strict=False):
            path = optimizer_path(
                name,
                problem["hyper"][name],
                problem["objective"],
                problem["start"],
                problem["n_steps"],
                problem["noise"],
            )
            for target in (overview, ax):
                target.plot(path[:, 0], path[:, 1], "-", color=color, linewidth=1, label=name)
            ax.plot(path[:, 0], path[:, 1], ".", color=color, markersize=2)
            draw_contours(ax, problem)
            final = problem["objective"](torch.from_numpy(path[-1])).item()
            ax.set_title(f"{name} ({len(path) - 1} steps, f={final:.1e})", fontsize=8)
        for ax in block[len(names) + 1 :]:
            ax.axis("off")
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=len(names))
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(output, dpi=110)
    print(f"saved {output}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "optimizer_paths.png")

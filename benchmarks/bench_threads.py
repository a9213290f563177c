"""Fit time at the default thread settings against the same fit pinned to one thread.

Cases, each with importance weights and with Adam:

- digits_mlp: ``IWMLPClassifier(hidden_layer_sizes=(64,), max_iter=50)`` on scaled
  digits (1797 x 64);
- breast_cancer_lr: ``IWLogisticRegression()`` on scaled breast cancer (569 x 30);
- digits_lstm: ``IWLSTMClassifier(hidden_size=32, max_iter=10)`` on the digits read row
  by row (8 steps of 8 pixels, scaled to [0, 1]), Adam at ``lr=0.01`` as in the demo;
- large_mlp: ``IWMLPClassifier(hidden_layer_sizes=(100,))`` on make_classification(20000,
  50), 3 epochs without stopping; its ``predict`` on the 20000 rows is timed too.

Each is run ``--repeats`` times at the default threads (the libraries' own counts, which
the estimators lower inside fit and predict) and pinned (torch and BLAS limited to one
thread, ``_threads.py``), the two interleaved, after a warm-up fit. Printed: minimum and
median seconds of each and the ratio default / pinned of the minima and of the medians.
Target: ratio <= 1.15.

Usage: python benchmarks/bench_threads.py [--repeats 5] [--cases digits_mlp,large_mlp]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from functools import partial

import numpy as np
import torch
from _threads import DEFAULT, PINNED, SETTINGS, describe, threads
from sklearn.base import BaseEstimator
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier
from sklearn_iw.solvers import Adam

TARGET = 1.15
LARGE_EPOCHS = 3


def cases() -> dict[str, tuple[Callable[[str], BaseEstimator], np.ndarray, np.ndarray]]:
    """``name -> (estimator for an optimizer name, X, y)``."""
    X_d, y_d = load_digits(return_X_y=True)
    X_b, y_b = load_breast_cancer(return_X_y=True)
    X_l, y_l = make_classification(n_samples=20000, n_features=50, n_informative=20, random_state=0)
    rows = (X_d / 16.0).reshape(-1, 8, 8).astype(np.float32)

    def mlp(optimizer: str) -> BaseEstimator:
        return IWMLPClassifier((64,), optimizer=optimizer, max_iter=50, random_state=0)

    def lr(optimizer: str) -> BaseEstimator:
        return IWLogisticRegression(optimizer=optimizer, random_state=0)

    def lstm(optimizer: str) -> BaseEstimator:
        spec = Adam(lr=0.01) if optimizer == "adam" else optimizer
        return IWLSTMClassifier(hidden_size=32, optimizer=spec, max_iter=10, random_state=0)

    def large(optimizer: str) -> BaseEstimator:
        return IWMLPClassifier(
            (100,),
            optimizer=optimizer,
            max_iter=LARGE_EPOCHS,
            tol=0.0,
            n_iter_no_change=LARGE_EPOCHS + 1,
            random_state=0,
        )

    return {
        "digits_mlp": (mlp, StandardScaler().fit_transform(X_d), y_d),
        "breast_cancer_lr": (lr, StandardScaler().fit_transform(X_b), y_b),
        "digits_lstm": (lstm, rows, y_d),
        "large_mlp": (large, X_l, y_l),
    }


def fit_one(make: Callable[[str], BaseEstimator], optimizer: str, X, y) -> None:
    make(optimizer).fit(X, y)


def interleaved(run: Callable[[], object], repeats: int) -> dict[str, list[float]]:
    """Seconds of ``repeats`` calls of ``run`` under each setting, alternating."""
    seconds: dict[str, list[float]] = {setting: [] for setting in SETTINGS}
    for _ in range(repeats):
        for setting in SETTINGS:
            with threads(setting):
                start = time.perf_counter()
                run()
                seconds[setting].append(time.perf_counter() - start)
    return seconds


def row(case: str, what: str, seconds: dict[str, list[float]]) -> str:
    """A markdown row: min / median of each setting, the ratios, the verdict."""
    low = {setting: min(times) for setting, times in seconds.items()}
    mid = {setting: statistics.median(times) for setting, times in seconds.items()}
    ratio_low, ratio_mid = low[DEFAULT] / low[PINNED], mid[DEFAULT] / mid[PINNED]
    verdict = "met" if ratio_mid <= TARGET else "MISSED"
    return (
        f"| {case} | {what} | {low[DEFAULT]:.3f} / {mid[DEFAULT]:.3f} "
        f"| {low[PINNED]:.3f} / {mid[PINNED]:.3f} | {ratio_low:.2f} / {ratio_mid:.2f} | {verdict} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cases", help="comma-separated case names (default: all)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    all_cases = cases()
    names = args.cases.split(",") if args.cases else list(all_cases)
    print(f"torch {torch.__version__}; {describe(SETTINGS)}; {args.repeats} repeats, interleaved")
    print(
        "| case | optimizer | default s (min / median) | pinned 1 thread s (min / median) "
        f"| ratio default / pinned (min / median) | target <= {TARGET} |"
    )
    print("|---|---|---|---|---|---|")
    for name in names:
        make, X, y = all_cases[name]
        for optimizer in ("importance_weights", "adam"):
            fit = partial(fit_one, make, optimizer, X, y)
            with threads(PINNED):
                fit()  # warm-up: one-off costs of a model shape
            seconds = interleaved(fit, args.repeats)
            print(row(name, optimizer, seconds), flush=True)
        if name == "large_mlp":
            fitted = make("adam").fit(X, y)
            seconds = interleaved(partial(fitted.predict, X), args.repeats)
            print(row(name, "predict (adam model)", seconds), flush=True)


if __name__ == "__main__":
    main()

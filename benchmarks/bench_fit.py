"""Fit time of IWMLPClassifier and IWMLPRegressor against scikit-learn's MLPs (the anchors).

make_classification(20000, 50) and make_regression(20000, 50) (targets standardised),
hidden (100,), Adam, batch 200, 10 epochs, median of 3 fits after one warm-up fit. Both
sides train in float64 on float64 input (scikit-learn's MLP keeps the input dtype, and so
does sklearn-iw); float32 rows show the cost of double precision. Prints one table per
task with the ratio to its anchor measured in the same run.

Usage: python benchmarks/bench_fit.py [--repeats 3] [--threads N]

``--threads N`` limits both sides: torch's intra-op threads and, through threadpoolctl, the
BLAS threads that scikit-learn's MLP runs on (otherwise the anchor alone would use every
core).
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor
from threadpoolctl import threadpool_limits

from sklearn_iw import IWMLPClassifier, IWMLPRegressor

EPOCHS = 10


def median_fit_seconds(make_estimator, X, y, repeats: int) -> tuple[float, float]:
    """Median wall time of ``repeats`` fits (after a warm-up) and the last training score."""
    make_estimator().fit(X, y)
    times = []
    for _ in range(repeats):
        estimator = make_estimator()
        start = time.perf_counter()
        estimator.fit(X, y)
        times.append(time.perf_counter() - start)
    return statistics.median(times), estimator.score(X, y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch and BLAS threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y = make_classification(n_samples=20000, n_features=50, n_informative=20, random_state=0)
    X_r, y_r = make_regression(n_samples=20000, n_features=50, noise=10.0, random_state=0)
    y_r = (y_r - y_r.mean()) / y_r.std()
    for task, anchor_class, ours_class, data, target, score in [
        ("make_classification", MLPClassifier, IWMLPClassifier, X, y, "train acc"),
        ("make_regression", MLPRegressor, IWMLPRegressor, X_r, y_r, "train R^2"),
    ]:
        table(task, anchor_class, ours_class, data, target, score, args.repeats)


def table(task, anchor_class, ours_class, X, y, score_name: str, repeats: int) -> None:
    """Print the fit times of scikit-learn's MLP (the anchor) and ours, float64 and
    float32, with their ratios to the anchor."""
    common = dict(hidden_layer_sizes=(100,), batch_size=200, max_iter=EPOCHS, random_state=0)
    # No stopping before the last epoch: every fit runs the same number of epochs.
    steady = dict(tol=0.0, n_iter_no_change=EPOCHS + 1)

    def anchor():
        return anchor_class(solver="adam", **steady, **common)

    def ours():
        return ours_class(optimizer="adam", device="cpu", **steady, **common)

    rows = [
        (f"sklearn {anchor_class.__name__} (anchor)", anchor, X),
        (f"{ours_class.__name__} float64", ours, X),
        (f"{ours_class.__name__} float32", ours, X.astype(np.float32)),
    ]
    print(
        f"\n{task}(20000, 50), hidden (100,), adam, batch 200, {EPOCHS} epochs, "
        f"median of {repeats}, torch threads {torch.get_num_threads()}"
    )
    print(f"{'model':<32} {'fit s':>8} {'ratio':>7} {score_name:>10}")
    anchor_seconds = None
    for name, factory, data in rows:
        seconds, score = median_fit_seconds(factory, data, y, repeats)
        anchor_seconds = anchor_seconds or seconds
        print(f"{name:<32} {seconds:>8.3f} {seconds / anchor_seconds:>7.2f} {score:>10.3f}")


if __name__ == "__main__":
    main()

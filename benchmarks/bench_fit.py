"""Fit time of IWMLPClassifier and IWMLPRegressor against scikit-learn's MLPs (the anchors).

make_classification(20000, 50) and make_regression(20000, 50) (targets standardised),
hidden (100,), Adam, batch 200, 10 epochs, median of 3 fits after one warm-up fit. Both
sides train in float64 on float64 input (scikit-learn's MLP keeps the input dtype, and so
does sklearn-iw); float32 rows show the cost of double precision. Prints one table per
task with the ratio to its anchor measured in the same run.

Usage: python benchmarks/bench_fit.py [--repeats 3] [--threads both|1|default]

``--threads`` (``_threads.py``): each figure pinned to one thread (``1``: torch's intra-op
threads and, through threadpoolctl, the BLAS threads that scikit-learn's MLP runs on, so
that the anchor does not use every core alone), at the libraries' defaults, or both side
by side (the default), each ratio taken against the anchor under the same setting.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
from _threads import add_threads_argument, describe, each, selected
from sklearn.datasets import make_classification, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier, MLPRegressor

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
    add_threads_argument(parser)
    args = parser.parse_args()
    settings = selected(args.threads)
    print(describe(settings))
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y = make_classification(n_samples=20000, n_features=50, n_informative=20, random_state=0)
    X_r, y_r = make_regression(n_samples=20000, n_features=50, noise=10.0, random_state=0)
    y_r = (y_r - y_r.mean()) / y_r.std()
    for task, anchor_class, ours_class, data, target, score in [
        ("make_classification", MLPClassifier, IWMLPClassifier, X, y, "train acc"),
        ("make_regression", MLPRegressor, IWMLPRegressor, X_r, y_r, "train R^2"),
    ]:
        table(task, anchor_class, ours_class, data, target, score, args.repeats, settings)


def table(
    task, anchor_class, ours_class, X, y, score_name: str, repeats: int, settings: tuple[str, ...]
) -> None:
    """Print the fit times of scikit-learn's MLP (the anchor) and ours, float64 and
    float32, with their ratios to the anchor, under each thread setting."""
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
        f"median of {repeats}; fit s and ratio to the anchor at threads {', '.join(settings)}"
    )
    columns = "".join(f" {'fit s ' + s:>14} {'ratio ' + s:>13}" for s in settings)
    print(f"{'model':<32}{columns} {score_name:>10}")
    anchor_seconds = None
    for name, factory, data in rows:
        results = each(settings, lambda f=factory, d=data: median_fit_seconds(f, d, y, repeats))
        seconds = {setting: result[0] for setting, result in results.items()}
        anchor_seconds = anchor_seconds or seconds
        cells = "".join(
            f" {seconds[s]:>14.3f} {seconds[s] / anchor_seconds[s]:>13.2f}" for s in settings
        )
        print(f"{name:<32}{cells} {results[settings[0]][1]:>10.3f}")


if __name__ == "__main__":
    main()

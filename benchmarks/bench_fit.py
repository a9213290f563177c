"""Fit time of IWMLPClassifier against scikit-learn's MLPClassifier (the anchor).

make_classification(20000, 50), hidden (100,), Adam, batch 200, 10 epochs, median of 3 fits
after one warm-up fit. Both train in float64 on float64 input (scikit-learn's MLP keeps the
input dtype, and so does sklearn-iw); a float32 row shows the cost of double precision.
Prints a table with the ratio to the anchor measured in the same run.

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
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier
from threadpoolctl import threadpool_limits

from sklearn_iw import IWMLPClassifier

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
    common = dict(hidden_layer_sizes=(100,), batch_size=200, max_iter=EPOCHS, random_state=0)

    def sklearn_mlp():
        return MLPClassifier(solver="adam", tol=0.0, n_iter_no_change=EPOCHS + 1, **common)

    def iw_mlp():
        return IWMLPClassifier(
            optimizer="adam", tol=0.0, n_iter_no_change=EPOCHS + 1, device="cpu", **common
        )

    rows = [("sklearn MLPClassifier (anchor)", sklearn_mlp, X)]
    rows.append(("IWMLPClassifier float64", iw_mlp, X))
    rows.append(("IWMLPClassifier float32", iw_mlp, X.astype(np.float32)))
    print(
        f"make_classification(20000, 50), hidden (100,), adam, batch 200, {EPOCHS} epochs, "
        f"median of {args.repeats}, torch threads {torch.get_num_threads()}"
    )
    print(f"{'model':<32} {'fit s':>8} {'ratio':>7} {'train acc':>10}")
    anchor = None
    for name, factory, data in rows:
        seconds, score = median_fit_seconds(factory, data, y, args.repeats)
        anchor = anchor or seconds
        print(f"{name:<32} {seconds:>8.3f} {seconds / anchor:>7.2f} {score:>10.3f}")


if __name__ == "__main__":
    main()

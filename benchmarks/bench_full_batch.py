"""Full batches: seconds per epoch of importance weights against Adam, as n grows.

``IWLogisticRegression(batch_size='full')`` on ``make_classification(n, 10,
flip_y=0.1, class_sep=0.7)`` (22 parameters): with more samples than twice the
parameters the Gram matrix has rank at most P, and the importance-weights QP is solved
through the per-sample gradients. Each figure is the best of ``--repeats`` fits of
``--epochs`` epochs, over the epochs, after one warm-up fit; the ratio is to Adam's
epoch on the same full batch (the anchor), measured in the same run. ``--threads``
(``_threads.py``): pinned to one thread, at the defaults, or both side by side.
"""

from __future__ import annotations

import argparse
import time
import warnings

from _threads import add_threads_argument, describe, each, selected
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning

from sklearn_iw import IWLogisticRegression

SIZES = (1000, 2000, 4000, 6000)


def seconds_per_epoch(optimizer: str, X, y, epochs: int, repeats: int) -> float:
    """Best wall time of ``repeats`` full-batch fits, over their ``epochs`` epochs."""
    best = float("inf")
    for _ in range(repeats):
        model = IWLogisticRegression(
            batch_size="full",
            optimizer=optimizer,
            max_iter=epochs,
            n_iter_no_change=epochs + 1,
            random_state=0,
        )
        start = time.perf_counter()
        model.fit(X, y)
        best = min(best, (time.perf_counter() - start) / epochs)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3)
    add_threads_argument(parser)
    args = parser.parse_args()
    settings = selected(args.threads)
    print(describe(settings))
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    IWLogisticRegression(max_iter=1).fit(*make_classification(300, 10, random_state=0))
    columns = "".join(
        f" {'IW s ' + s:>12} {'Adam s ' + s:>12} {'ratio ' + s:>10}" for s in settings
    )
    print(f"{'n':>6}{columns}")
    for n in SIZES:
        X, y = make_classification(n, 10, flip_y=0.1, class_sep=0.7, random_state=0)
        iw, adam = (
            each(
                settings,
                lambda o=opt, X=X, y=y: seconds_per_epoch(o, X, y, args.epochs, args.repeats),
            )
            for opt in ("importance_weights", "adam")
        )
        cells = "".join(
            f" {iw[s]:>12.4f} {adam[s]:>12.4f} {iw[s] / adam[s]:>10.1f}" for s in settings
        )
        print(f"{n:>6}{cells}")


if __name__ == "__main__":
    main()

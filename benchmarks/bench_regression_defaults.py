"""The regressors at their defaults against scikit-learn's, held-out R^2, targets as given.

Regression sets shipped with scikit-learn (diabetes, 442 x 10; linnerud, 20 x 3 with 3
targets) and generated ones of very different target scales (friedman1/2/3,
``make_regression``): ``IWLinearRegression()`` against ``Ridge()`` and
``IWMLPRegressor()`` against ``MLPRegressor()``, every model inside
``make_pipeline(StandardScaler(), model)`` (features standardised, targets in their own
units, as users pass them). Splits: 75/25, seeds 0, 1, 2; R^2 and fit seconds are means
over them. ``--param key=value`` sets a parameter on both of ours (``optimizer__loss_cap=4.0``
turns the named optimizer into its spec with the regressor's defaults first), to compare
candidate defaults on the same table. ``--threads``: pinned to one thread (the default
here) or at the libraries' defaults.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from _threads import describe, threads
from bench_defaults import parse_params, with_params
from sklearn.datasets import (
    load_diabetes,
    load_linnerud,
    make_friedman1,
    make_friedman2,
    make_friedman3,
    make_regression,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWLinearRegression, IWMLPRegressor

SETS = {
    "diabetes": lambda: load_diabetes(return_X_y=True),
    "friedman1": lambda: make_friedman1(500, noise=1.0, random_state=0),
    "friedman2": lambda: make_friedman2(500, noise=10.0, random_state=0),
    "friedman3": lambda: make_friedman3(500, noise=0.1, random_state=0),
    "make_regression": lambda: make_regression(
        300, 20, n_informative=10, noise=10.0, random_state=0
    ),
    "linnerud": lambda: load_linnerud(return_X_y=True),
}
PAIRS = ((IWLinearRegression, Ridge), (IWMLPRegressor, MLPRegressor))
N_SPLITS = 3


def fit_score(model, X_train, y_train, X_test, y_test) -> tuple[float, float, int]:
    """Held-out R^2, fit seconds and epochs (0 for closed-form fits)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    epochs = getattr(model[-1], "n_iter_", 0) or 0
    return float(model.score(X_test, y_test)), seconds, int(epochs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", choices=("1", "default"), default="1")
    parser.add_argument("--param", action="append", default=[], help="key=value")
    args = parser.parse_args()
    params = parse_params(args.param)
    print(describe((args.threads,)), f"; parameters: {params or 'defaults'}")
    print(
        "| set | n x d | target std | ours / baseline | ours R^2 | baseline R^2 "
        "| ours epochs | ours fit s | baseline fit s |"
    )
    print("|" + "---|" * 9)
    with threads(args.threads):
        for name, load in SETS.items():
            X, y = load()
            for ours_cls, base_cls in PAIRS:
                runs = []
                for seed in range(N_SPLITS):
                    X_train, X_test, y_train, y_test = train_test_split(
                        X, y, test_size=0.25, random_state=seed
                    )
                    split = (X_train, y_train, X_test, y_test)
                    ours = with_params(ours_cls(random_state=seed), params)
                    baseline = base_cls(random_state=seed) if base_cls is MLPRegressor else Ridge()
                    runs.append(
                        fit_score(make_pipeline(StandardScaler(), ours), *split)
                        + fit_score(make_pipeline(StandardScaler(), baseline), *split)
                    )
                r2, seconds, epochs, base_r2, base_seconds, _ = np.mean(runs, axis=0)
                print(
                    f"| {name} | {X.shape[0]} x {X.shape[1]} | {np.std(y):.2f} "
                    f"| {ours_cls.__name__} / {base_cls.__name__} | {r2:.3f} | {base_r2:.3f} "
                    f"| {epochs:.0f} | {seconds:.2f} | {base_seconds:.2f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()

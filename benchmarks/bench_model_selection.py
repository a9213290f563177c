"""Model selection by leave-one-out (estimate, bound, replay) against 5-fold cross-validation.

On five data sets (breast_cancer, digits, wine, iris and a noisy two-moons set: nonlinear
with overlapping classes; stratified 75/25 split, fixed seed), the same grid of
IWMLPClassifier settings (optimizer C, margin scale p, hidden size; StandardScaler in a
Pipeline) is searched by LOOBoundSearchCV (one fit per candidate) with
``criterion='estimate'`` and ``'bound'``, and by GridSearchCV(cv=5) (five fits per
candidate and a refit), sequentially. On the two smallest sets (wine, iris) the search
with ``criterion='replay'`` (exact leave-one-out) runs too, with its cost as a fraction of
n refits. Measured: wall time of each search (the anchor is GridSearchCV), held-out
accuracy of each one's chosen model, the Spearman correlation across the grid between
each criterion and the held-out error (each candidate refitted on the 75% outside the
timed searches), and the share of a fit's time that ``loo_estimate_`` takes (its
per-step and final parts, timed inside the estimate search).

Targets: 'estimate' within 1 accuracy point of CV's choice on every set, at <= 0.3x its
wall time; 'replay' cost fraction <= 0.5; the estimate <= 30% of a fit.

Usage: python benchmarks/bench_model_selection.py [--threads both|1|default] [--n-jobs 1]
       [--datasets breast_cancer digits wine iris moons] [--max-iter 50]

``--threads`` (``_threads.py``): every search pinned to one thread (torch and BLAS), at the
libraries' defaults, or both (the default), the two rows of a data set adjacent.
"""

from __future__ import annotations

import argparse
import functools
import time
import warnings

import numpy as np
from _threads import add_threads_argument, describe, each, selected
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine, make_moons
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, ParameterGrid, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_iw.loo._attributes as attributes_module
import sklearn_iw.loo._recorder as recorder_module
from sklearn_iw import IWMLPClassifier, LOOBoundSearchCV
from sklearn_iw.loo._influence import InfluenceAccumulator
from sklearn_iw.solvers import ImportanceWeights


def _moons():
    return make_moons(600, noise=0.35, random_state=0)


DATASETS = {
    "breast_cancer": lambda: load_breast_cancer(return_X_y=True),
    "digits": lambda: load_digits(return_X_y=True),
    "wine": lambda: load_wine(return_X_y=True),
    "iris": lambda: load_iris(return_X_y=True),
    "moons": _moons,
}
# The sets on which the exact replay runs too.
REPLAY_SETS = ("wine", "iris")

# Full batches; margins from under-fitting (p=0.005 in 50 epochs) to many active
# samples (p=0.1 with C=0.01).
GRID = {
    "clf__optimizer__p": [0.005, 0.02, 0.05, 0.1],
    "clf__optimizer__C": [0.01, 1.0],
    "clf__hidden_layer_sizes": [(16,), (128,)],
}
# The functions behind loo_estimate_: per step (span, pulls), per epoch (margins) and at
# the end.
ESTIMATE_PARTS = (
    (recorder_module, "span_self_influence"),
    (InfluenceAccumulator, "add_pulls"),
    (recorder_module, "margins"),
    (attributes_module, "loo_margins"),
)


def make_pipeline(max_iter: int, device: str) -> Pipeline:
    # n_iter_no_change=max_iter: a fixed number of epochs, as a grid over p and C means.
    clf = IWMLPClassifier(
        optimizer=ImportanceWeights(),
        batch_size="full",
        max_iter=max_iter,
        n_iter_no_change=max_iter,
        device=device,
        random_state=0,
    )
    return Pipeline([("scale", StandardScaler()), ("clf", clf)])


class PartTimer:
    """Wraps the estimate's functions in the leave-one-out modules and sums their time."""

    def __init__(self):
        self.seconds = 0.0
        self.originals = {part: getattr(*part) for part in ESTIMATE_PARTS}

    def __enter__(self):
        for (module, name), function in self.originals.items():
            setattr(module, name, self._timed(function))
        return self

    def __exit__(self, *exc):
        for (module, name), function in self.originals.items():
            setattr(module, name, function)

    def _timed(self, function):
        @functools.wraps(function)
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - start

        return timed


def timed_search(search, X, y):
    start = time.perf_counter()
    search.fit(X, y)
    return search, time.perf_counter() - start


def run_dataset(name: str, args) -> dict:
    X, y = DATASETS[name]()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    pipe = make_pipeline(args.max_iter, args.device)
    clone(pipe).set_params(clf__max_iter=2).fit(X_train, y_train)  # warm-up, not timed

    with PartTimer() as timer:
        estimate, estimate_s = timed_search(
            LOOBoundSearchCV(pipe, GRID, n_jobs=args.n_jobs), X_train, y_train
        )
    fit_s = estimate.cv_results_["mean_fit_time"].sum()
    bound, bound_s = timed_search(
        LOOBoundSearchCV(pipe, GRID, criterion="bound", n_jobs=args.n_jobs), X_train, y_train
    )
    cv, cv_s = timed_search(GridSearchCV(pipe, GRID, cv=5, n_jobs=args.n_jobs), X_train, y_train)
    replay = None
    if name in REPLAY_SETS and not args.no_replay:
        search = LOOBoundSearchCV(pipe, GRID, criterion="replay", n_jobs=args.n_jobs)
        replay, replay_s = timed_search(search, X_train, y_train)
        # Brute force: n refits per candidate, each costing about one fit of the search.
        brute_s = len(y_train) * bound.cv_results_["mean_fit_time"].sum()

    # Held-out error of every candidate, trained on the whole 75% (not timed).
    held_out = np.array(
        [
            1.0 - clone(pipe).set_params(**params).fit(X_train, y_train).score(X_test, y_test)
            for params in ParameterGrid(GRID)
        ]
    )
    row = {
        "dataset": name,
        "n_train": len(y_train),
        "cv_s": cv_s,
        "estimate_s": estimate_s,
        "bound_s": bound_s,
        "cv_acc": cv.score(X_test, y_test),
        "estimate_acc": estimate.score(X_test, y_test),
        "bound_acc": bound.score(X_test, y_test),
        "best_acc": 1.0 - held_out.min(),
        "estimate_share": timer.seconds / (fit_s - timer.seconds),
        "rho_estimate": spearmanr(estimate.cv_results_["loo_estimate"], held_out).statistic,
        "rho_bound": spearmanr(bound.cv_results_["loo_bound"], held_out).statistic,
        "rho_cv": spearmanr(1.0 - cv.cv_results_["mean_test_score"], held_out).statistic,
        "choices": {
            "estimate": estimate.best_params_,
            "bound": bound.best_params_,
            "cv": cv.best_params_,
        },
        "columns": {
            "estimate": estimate.cv_results_["loo_estimate"],
            "bound": bound.cv_results_["loo_bound"],
            "cv": 1.0 - cv.cv_results_["mean_test_score"],
        },
        "held_out": held_out,
    }
    if replay is not None:
        fractions = replay.cv_results_["replay_cost_fraction"]
        row.update(
            replay_s=replay_s,
            replay_acc=replay.score(X_test, y_test),
            replay_fraction=(fractions.min(), fractions.mean(), fractions.max()),
            replay_time_fraction=(replay_s - bound_s) / brute_s,
            rho_replay=spearmanr(replay.cv_results_["loo_replay"], held_out).statistic,
        )
        row["choices"]["replay"] = replay.best_params_
        row["columns"]["replay"] = replay.cv_results_["loo_replay"]
    return row


def short(params: dict) -> str:
    p, C = params["clf__optimizer__p"], params["clf__optimizer__C"]  # noqa: N806
    return f"p={p}, C={C}, h={params['clf__hidden_layer_sizes'][0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_threads_argument(parser)
    parser.add_argument("--n-jobs", type=int, default=None, help="n_jobs of every search")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--max-iter", type=int, default=50, help="epochs per fit")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-replay", action="store_true", help="skip the replay searches")
    parser.add_argument("--details", action="store_true", help="print every candidate")
    args = parser.parse_args()
    settings = selected(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    n_candidates = len(ParameterGrid(GRID))
    print(
        f"{n_candidates} candidates, {args.max_iter} full-batch epochs each, "
        f"n_jobs {args.n_jobs}; {describe(settings)}\n"
    )
    rows = [
        {**row, "threads": setting}
        for name in args.datasets
        for setting, row in each(settings, functools.partial(run_dataset, name, args)).items()
    ]

    print(
        "| dataset | threads | n_train | CV s (anchor) | estimate s | ratio | bound s | ratio "
        "| CV acc | estimate acc | Δ (points) | bound acc | Δ (points) | best in grid "
        "| ρ estimate | ρ bound | ρ CV | estimate share of a fit |"
    )
    print("|---" * 18 + "|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['threads']} | {r['n_train']} | {r['cv_s']:.1f} "
            f"| {r['estimate_s']:.1f} "
            f"| {r['estimate_s'] / r['cv_s']:.2f} | {r['bound_s']:.1f} "
            f"| {r['bound_s'] / r['cv_s']:.2f} | {100 * r['cv_acc']:.1f} "
            f"| {100 * r['estimate_acc']:.1f} | {100 * (r['estimate_acc'] - r['cv_acc']):+.1f} "
            f"| {100 * r['bound_acc']:.1f} | {100 * (r['bound_acc'] - r['cv_acc']):+.1f} "
            f"| {100 * r['best_acc']:.1f} | {r['rho_estimate']:.2f} | {r['rho_bound']:.2f} "
            f"| {r['rho_cv']:.2f} | {100 * r['estimate_share']:.0f}% |"
        )
    replays = [r for r in rows if "replay_s" in r]
    if replays:
        print(
            "\n| dataset | threads | replay search s | ratio to CV | replay acc | Δ (points) "
            "| cost fraction (epochs re-run / n refits: min, mean, max) "
            "| replay time / brute-force time | ρ replay |"
        )
        print("|---" * 9 + "|")
        for r in replays:
            low, mean, high = r["replay_fraction"]
            print(
                f"| {r['dataset']} | {r['threads']} | {r['replay_s']:.1f} "
                f"| {r['replay_s'] / r['cv_s']:.2f} "
                f"| {100 * r['replay_acc']:.1f} | {100 * (r['replay_acc'] - r['cv_acc']):+.1f} "
                f"| {low:.2f}, {mean:.2f}, {high:.2f} | {r['replay_time_fraction']:.2f} "
                f"| {r['rho_replay']:.2f} |"
            )
    print()
    for r in rows:
        choices = "; ".join(f"{k} chose {short(v)}" for k, v in r["choices"].items())
        print(f"{r['dataset']} ({r['threads']} threads): {choices}")
        if args.details:
            names = list(r["columns"])
            print("    " + " ".join(f"{n:>9}" for n in names) + "  test err  candidate")
            for i, params in enumerate(ParameterGrid(GRID)):
                values = " ".join(f"{r['columns'][n][i]:9.3f}" for n in names)
                print(f"    {values}  {r['held_out'][i]:8.3f}  {short(params)}")


if __name__ == "__main__":
    main()

"""Model selection by the leave-one-out bound against 5-fold cross-validation.

On breast_cancer, digits and wine (stratified 75/25 split, fixed seed), the same grid of
IWMLPClassifier settings (optimizer C, margin scale p, hidden size; StandardScaler in a
Pipeline) is searched by LOOBoundSearchCV (one fit per candidate) and by
GridSearchCV(cv=5) (five fits per candidate and a refit), with the same n_jobs. Measured:
wall and CPU time of each search (the anchor is GridSearchCV; the CPU time of this process
is meaningful with n_jobs=1 and robust to other load on the machine), held-out accuracy of
each one's chosen model, and the Spearman rank correlation across the grid between each
candidate's ``loo_bound_`` (and its 5-fold CV error) and its held-out error (each
candidate refitted on the 75% outside the timed searches).

Targets: time ratio <= 0.25; chosen model within 1 accuracy point of CV's.

Usage: python benchmarks/bench_model_selection.py [--threads 1] [--n-jobs 1]
       [--datasets breast_cancer digits wine] [--max-iter 50]
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import torch
from scipy.stats import spearmanr
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, ParameterGrid, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWMLPClassifier, LOOBoundSearchCV
from sklearn_iw.solvers import ImportanceWeights

DATASETS = {"breast_cancer": load_breast_cancer, "digits": load_digits, "wine": load_wine}

# Full batches keep most samples inactive (with minibatches nearly every digit is active
# at some step and the bound is ~0.95); margins from under-fitting (p=0.005 in 50 epochs)
# to many active samples (p=0.1 with C=0.01).
GRID = {
    "clf__optimizer__p": [0.005, 0.02, 0.05, 0.1],
    "clf__optimizer__C": [0.01, 1.0],
    "clf__hidden_layer_sizes": [(16,), (128,)],
}


def make_pipeline(max_iter: int, device: str) -> Pipeline:
    # n_iter_no_change=max_iter: a fixed number of epochs. When the loss-based stopping
    # rule fires, every sample whose removal could move the stopping epoch counts as an
    # error in the bound, which then says little.
    clf = IWMLPClassifier(
        optimizer=ImportanceWeights(),
        batch_size="full",
        max_iter=max_iter,
        n_iter_no_change=max_iter,
        device=device,
        random_state=0,
    )
    return Pipeline([("scale", StandardScaler()), ("clf", clf)])


def run_dataset(name: str, args) -> dict:
    X, y = DATASETS[name](return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    pipe = make_pipeline(args.max_iter, args.device)
    clone(pipe).set_params(clf__max_iter=2).fit(X_train, y_train)  # warm-up, not timed

    start, cpu_start = time.perf_counter(), time.process_time()
    loo = LOOBoundSearchCV(pipe, GRID, n_jobs=args.n_jobs).fit(X_train, y_train)
    loo_seconds, loo_cpu = time.perf_counter() - start, time.process_time() - cpu_start

    start, cpu_start = time.perf_counter(), time.process_time()
    cv = GridSearchCV(pipe, GRID, cv=5, n_jobs=args.n_jobs).fit(X_train, y_train)
    cv_seconds, cv_cpu = time.perf_counter() - start, time.process_time() - cpu_start

    # Held-out error of every candidate, trained on the whole 75% (not timed).
    held_out = []
    for params in ParameterGrid(GRID):
        model = clone(pipe).set_params(**params).fit(X_train, y_train)
        held_out.append(1.0 - model.score(X_test, y_test))
    held_out = np.array(held_out)
    bounds = loo.cv_results_["loo_bound"]
    cv_errors = 1.0 - cv.cv_results_["mean_test_score"]
    return {
        "dataset": name,
        "n_train": len(y_train),
        "loo_s": loo_seconds,
        "cv_s": cv_seconds,
        "loo_cpu": loo_cpu,
        "cv_cpu": cv_cpu,
        "loo_acc": loo.score(X_test, y_test),
        "cv_acc": cv.score(X_test, y_test),
        "best_acc": 1.0 - held_out.min(),
        "rho_bound": spearmanr(bounds, held_out).statistic,
        "rho_cv": spearmanr(cv_errors, held_out).statistic,
        "loo_params": loo.best_params_,
        "cv_params": cv.best_params_,
        "bounds": bounds,
        "held_out": held_out,
    }


def short(params: dict) -> str:
    p, C = params["clf__optimizer__p"], params["clf__optimizer__C"]  # noqa: N806
    return f"p={p}, C={C}, h={params['clf__hidden_layer_sizes'][0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads")
    parser.add_argument("--n-jobs", type=int, default=None, help="n_jobs of both searches")
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--max-iter", type=int, default=50, help="epochs per fit")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--details", action="store_true", help="print bound/error per candidate")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)

    n_candidates = len(ParameterGrid(GRID))
    print(
        f"{n_candidates} candidates, {args.max_iter} full-batch epochs each, "
        f"torch threads {torch.get_num_threads()}, n_jobs {args.n_jobs}\n"
    )
    rows = [run_dataset(name, args) for name in args.datasets]

    print(
        "| dataset | n_train | GridSearchCV(cv=5) s (anchor) | LOOBoundSearchCV s | time ratio "
        "| CPU s, CV / LOO | CPU ratio | CV test acc | LOO test acc | Δ acc (points) "
        "| best in grid | Spearman(loo_bound, test err) | Spearman(CV err, test err) |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['dataset']} | {r['n_train']} | {r['cv_s']:.1f} | {r['loo_s']:.1f} "
            f"| {r['loo_s'] / r['cv_s']:.2f} | {r['cv_cpu']:.1f} / {r['loo_cpu']:.1f} "
            f"| {r['loo_cpu'] / r['cv_cpu']:.2f} | {100 * r['cv_acc']:.1f} "
            f"| {100 * r['loo_acc']:.1f} | {100 * (r['loo_acc'] - r['cv_acc']):+.1f} "
            f"| {100 * r['best_acc']:.1f} | {r['rho_bound']:.2f} | {r['rho_cv']:.2f} |"
        )
    print()
    for r in rows:
        loo_chose, cv_chose = short(r["loo_params"]), short(r["cv_params"])
        print(f"{r['dataset']}: LOO chose {loo_chose}; CV chose {cv_chose}")
        if args.details:
            for params, b, e in zip(ParameterGrid(GRID), r["bounds"], r["held_out"], strict=True):
                print(f"    {short(params):24s} loo_bound {b:.3f}  test error {e:.3f}")


if __name__ == "__main__":
    main()

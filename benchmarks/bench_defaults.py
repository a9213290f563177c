"""The estimators at their defaults on real data, against scikit-learn and simple baselines.

Every default of the estimators is a product decision; this table is what it is taken on.
All data ship inside packages (see ``_real_data.py``); nothing is downloaded.

- Tables (scikit-learn's and KEEL sets, 150 to 8000 rows, 2 to 64 features after one-hot
  encoding, 2 to 10 classes, two imbalanced): ``IWLogisticRegression()`` against
  scikit-learn's ``LogisticRegression()`` and ``IWMLPClassifier()`` against
  ``MLPClassifier()``, every model inside ``make_pipeline(StandardScaler(), model)``.
  Splits: stratified 75/25, seeds 0, 1, ... Target: ours at least the baseline less half a
  point, and above the majority class.
- Series (sktime's bundled UCR/UEA sets): ``IWLSTMClassifier()`` on ``(n, T, d)`` arrays
  (JapaneseVowels, of unequal lengths, as a list of ``(T_i, 12)`` arrays) against 1-NN
  Euclidean on the flattened series (JapaneseVowels padded to its longest training
  series by repeating each series' last frame, longer test series cut), both on the
  series as shipped (no scaling). Split 0 is the official train/test split, the others
  stratified reshuffles of train + test with the official training size. ACSF1 (1460
  steps) is shortened to 365 steps by averaging every 4 steps, for both models, so that
  an LSTM fit stays near a minute on one thread. Where a default fit stops before 100
  epochs on some split, a second row trains 100 epochs with the stopping rule off
  (``max_iter=100, tol=0, n_iter_no_change=101``). Target: the LSTM at least 1-NN.
- Strings (modlamp's peptide sets): ``IWLSTMClassifier()`` on the amino-acid strings
  (one-hot over the letters learned in ``fit``, the default ``alphabet=None``) against
  positional one-hot logistic regression (each position one-hot, sequences padded with
  '-' to the longest training sequence and test sequences cut to it,
  ``LogisticRegression(max_iter=1000)``). Splits as for tables. AMPvsUniProt (5200
  sequences of up to 174 letters; a default LSTM fit took 130 s on one thread) is a
  stratified half, 2600 sequences. Target: the LSTM at least the baseline.
- Motifs (``--kind motifs``, generated: ``_motif_family.py``): twelve tasks of
  ``make_motif_strings``, 2 to 4 variants of a 4- to 6-letter motif at the centre of
  random ACGT flanks of 20 to 40 letters, 1% to 5% label noise, 800 to 1500 strings;
  the same pair and splits as strings. Target: the LSTM with its defaults plus at most
  one documented switch at least the baseline on 8 of the 12 tasks.

Majority: the held-out accuracy of predicting the training split's most frequent class.
Every model gets ``random_state`` = the split's seed, so runs repeat. Accuracies are means
over the splits, fit seconds means of the fits (sequential, after an untimed warm-up fit
of each of our estimators). ``--param key=value`` sets a parameter on every one of our
estimators that has it (``optimizer__p=0.1`` turns a named optimizer into its spec with
this estimator's defaults first), to compare candidate defaults on the same table.

Run ``python benchmarks/bench_defaults.py --threads 1`` on an idle machine (21 minutes on
the shared 2-core box, 2026-12-07); ``--quick`` for a smoke run (about a minute).
"""

from __future__ import annotations

import argparse
import ast
import subprocess
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from _motif_family import MOTIF_TASKS, motif_set
from _real_data import DataSet, load, names
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from sklearn_iw import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier

QUICK = ("iris", "wine", "breast_cancer", "pima", "italy_power_demand", "basic_motions", "AMPvsTM")
FORCED_EPOCHS = 100
PAD = "-"


@dataclass
class Pair:
    """One comparison: our estimator and its baseline, built fresh for every split."""

    label: str
    ours: Callable[[int], BaseEstimator]
    baseline: Callable[[int], BaseEstimator]
    # Tables: ours >= baseline - 0.5 points and > majority; otherwise ours >= baseline.
    tolerance: float = 0.0
    beat_majority: bool = False
    # Series: a second row with the stopping rule off where the default stops early.
    forced_row: bool = False


@dataclass
class Row:
    """The results of one pair on one set, over the splits."""

    data: DataSet
    pair: Pair
    ours_name: str
    majority: list[float] = field(default_factory=list)
    ours: list[float] = field(default_factory=list)
    base: list[float] = field(default_factory=list)
    ours_s: list[float] = field(default_factory=list)
    base_s: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)

    def met(self) -> bool:
        ours, base = np.mean(self.ours), np.mean(self.base)
        ok = ours >= base - self.pair.tolerance / 100
        if self.pair.beat_majority:
            ok = ok and ours > np.mean(self.majority)
        return bool(ok)


# ------------------------------------------------------------------------- parameters
def parse_params(items: Sequence[str]) -> dict:
    """``['key=value', ...]`` -> dict, values read as Python literals where they parse."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--param expects key=value, got {item!r}")
        try:
            params[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            params[key] = value
    return params


def with_params(estimator: BaseEstimator, params: dict) -> BaseEstimator:
    """Set those of ``params`` that ``estimator`` has; a named optimizer becomes its spec
    (with the estimator's own defaults for it) before ``optimizer__*`` is set."""
    if any(key.startswith("optimizer__") for key in params) and isinstance(
        estimator.optimizer, str
    ):
        estimator.set_params(optimizer=estimator._resolve_optimizer())
    valid = estimator.get_params(deep=True)
    mine = {key: value for key, value in params.items() if key in valid}
    return estimator.set_params(**mine)


def check_params(params: dict) -> None:
    """Fail early on a key that none of our estimators has."""
    known: set[str] = set()
    for cls in (IWLogisticRegression, IWMLPClassifier, IWLSTMClassifier):
        estimator = with_params(cls(), {k: v for k, v in params.items() if "__" in k})
        known |= set(estimator.get_params(deep=True))
    unknown = sorted(set(params) - known)
    if unknown:
        raise SystemExit(f"--param: no estimator of ours has {', '.join(unknown)}")


# -------------------------------------------------------------------------- baselines
class PositionalLetters(BaseEstimator):
    """Strings -> letters by position, padded to the longest training string (longer test
    strings cut to it); feed it to a OneHotEncoder."""

    def fit(self, X, y=None):
        self.length_ = max(len(s) for s in X)
        return self

    def transform(self, X):
        return np.array([list(s[: self.length_].ljust(self.length_, PAD)) for s in X])

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)


class FlatSeries(BaseEstimator):
    """Series -> rows for 1-NN: a 3D array flattened; a list of ``(T_i, d)`` arrays padded
    to the longest training series by repeating each one's last frame (longer test series
    cut to it), then flattened."""

    def fit(self, X, y=None):
        self.length_ = X.shape[1] if isinstance(X, np.ndarray) else max(len(x) for x in X)
        return self

    def transform(self, X):
        if isinstance(X, np.ndarray):
            return X.reshape(len(X), -1)
        length = self.length_
        padded = [np.pad(x[:length], ((0, length - len(x[:length])), (0, 0)), "edge") for x in X]
        return np.stack(padded).reshape(len(X), -1)

    def fit_transform(self, X, y=None):
        return self.fit(X).transform(X)


def pairs(kind: str, params: dict) -> list[Pair]:
    """The comparisons run on a set of this kind."""

    def ours(cls, **fixed):
        return lambda seed: with_params(cls(random_state=seed, **fixed), params)

    if kind == "tables":
        return [
            Pair(
                "IWLogisticRegression / LogisticRegression",
                lambda s: make_pipeline(StandardScaler(), ours(IWLogisticRegression)(s)),
                lambda s: make_pipeline(StandardScaler(), LogisticRegression(random_state=s)),
                tolerance=0.5,
                beat_majority=True,
            ),
            Pair(
                "IWMLPClassifier / MLPClassifier",
                lambda s: make_pipeline(StandardScaler(), ours(IWMLPClassifier)(s)),
                lambda s: make_pipeline(StandardScaler(), MLPClassifier(random_state=s)),
                tolerance=0.5,
                beat_majority=True,
            ),
        ]
    if kind == "series":
        return [
            Pair(
                "IWLSTMClassifier / 1-NN Euclidean",
                ours(IWLSTMClassifier),
                lambda s: make_pipeline(FlatSeries(), KNeighborsClassifier(n_neighbors=1)),
                forced_row=True,
            )
        ]
    return [
        Pair(
            "IWLSTMClassifier / one-hot LR",
            ours(IWLSTMClassifier),
            lambda s: make_pipeline(
                PositionalLetters(),
                OneHotEncoder(handle_unknown="ignore"),
                LogisticRegression(max_iter=1000, random_state=s),
            ),
        )
    ]


def forced(pair: Pair) -> Pair:
    """``pair`` with our estimator trained ``FORCED_EPOCHS`` epochs, stopping rule off."""
    fixed = {"max_iter": FORCED_EPOCHS, "tol": 0.0, "n_iter_no_change": FORCED_EPOCHS + 1}
    return Pair(
        pair.label,
        lambda s: with_params(pair.ours(s), fixed),
        pair.baseline,
        pair.tolerance,
        pair.beat_majority,
    )


# ------------------------------------------------------------------------------ runs
def splits(data: DataSet, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/test indices: tables and strings stratified 75/25 (seeds 0, 1, ...); series
    the official split, then stratified reshuffles with the official training size."""
    n = data.n_samples
    if data.kind == "series":
        official = (np.arange(data.n_train), np.arange(data.n_train, n))
        shuffles = StratifiedShuffleSplit(
            n_splits - 1, train_size=data.n_train, random_state=0
        ).split(np.zeros(n), data.y)
        return [official, *shuffles]
    out = []
    for seed in range(n_splits):
        shuffle = StratifiedShuffleSplit(1, test_size=0.25, random_state=seed)
        out.append(next(shuffle.split(np.zeros(n), data.y)))
    return out


def take(X, index: np.ndarray):
    return [X[i] for i in index] if isinstance(X, list) else X[index]


def fit_score(model: BaseEstimator, X_train, y_train, X_test, y_test) -> tuple[float, float]:
    """Fit (timed) and held-out accuracy; ConvergenceWarnings silenced."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
    return float(model.score(X_test, y_test)), seconds


def final_step(model: BaseEstimator) -> BaseEstimator:
    return model.steps[-1][1] if hasattr(model, "steps") else model


def run_pair(data: DataSet, pair: Pair, folds, ours_name: str, log) -> Row:
    row = Row(data, pair, ours_name)
    for seed, (train, test) in enumerate(folds):
        X_train, X_test = take(data.X, train), take(data.X, test)
        y_train, y_test = data.y[train], data.y[test]
        labels, counts = np.unique(y_train, return_counts=True)
        row.majority.append(float(np.mean(y_test == labels[np.argmax(counts)])))
        model = pair.ours(seed)
        accuracy, seconds = fit_score(model, X_train, y_train, X_test, y_test)
        row.ours.append(accuracy)
        row.ours_s.append(seconds)
        row.epochs.append(int(final_step(model).n_iter_))
        base_accuracy, base_seconds = fit_score(
            pair.baseline(seed), X_train, y_train, X_test, y_test
        )
        row.base.append(base_accuracy)
        row.base_s.append(base_seconds)
        log(
            f"  {data.name} split {seed}: {ours_name} {accuracy:.4f} ({seconds:.1f} s, "
            f"{row.epochs[-1]} epochs), baseline {base_accuracy:.4f} ({base_seconds:.2f} s)"
        )
    return row


def warm_up() -> None:
    """One small untimed fit of each of our estimators: the first fit of a process pays
    one-off costs (lazy imports, allocations)."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), np.arange(60) % 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        IWLogisticRegression(max_iter=2).fit(X, y)
        IWMLPClassifier(max_iter=2).fit(X, y)
        IWLSTMClassifier(max_iter=2).fit(X.reshape(60, 4, 1), y)
        IWLSTMClassifier(max_iter=2).fit(["AC", "CA", "AAC"] * 20, y)


# ---------------------------------------------------------------------------- output
def table(rows: list[Row]) -> str:
    head = (
        "| set | kind | n | features/length | classes | majority | ours / baseline | ours "
        "| baseline | diff (points) | target | ours epochs | ours fit s | baseline fit s |"
    )
    lines = [head, "|" + "---|" * 14]
    for r in rows:
        ours, base = np.mean(r.ours), np.mean(r.base)
        lines.append(
            f"| {r.data.name} | {r.data.kind} | {r.data.n_samples} | {r.data.shape_text} "
            f"| {r.data.n_classes} | {np.mean(r.majority):.3f} | {r.ours_name} / "
            f"{r.pair.label.split(' / ')[1]} | {ours:.3f} | {base:.3f} "
            f"| {100 * (ours - base):+.1f} | {'yes' if r.met() else 'no'} "
            f"| {np.mean(r.epochs):.0f} | {np.mean(r.ours_s):.2f} | {np.mean(r.base_s):.3f} |"
        )
    return "\n".join(lines)


def summary(rows: list[Row]) -> str:
    counts: dict[str, list[int]] = {}
    for r in rows:
        key = f"{r.ours_name} vs {r.pair.label.split(' / ')[1]}"
        met, total = counts.setdefault(key, [0, 0])
        counts[key] = [met + r.met(), total + 1]
    return "\n".join(
        f"- {key}: {met}/{total} rows meet the target" for key, (met, total) in counts.items()
    )


def source_version() -> str:
    """The commit of the sklearn_iw that runs, and whether its files differ from it."""
    import sklearn_iw

    folder = sklearn_iw.__path__[0]
    try:
        commit = subprocess.run(
            ["git", "-C", folder, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", folder, "status", "--porcelain", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return f"sklearn_iw from {folder}"
    return f"sklearn_iw {commit}{' + local changes' if changed else ''} ({folder})"


def set_names(kind: str) -> list[str]:
    """The real sets of one kind, the generated motif tasks ('motifs'), or all."""
    generated = list(MOTIF_TASKS) if kind in ("motifs", "all") else []
    return ([] if kind == "motifs" else names(kind)) + generated


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", choices=("1", "default"), default="default")
    parser.add_argument("--splits", type=int, help="splits per set (default 3; --quick: 2)")
    parser.add_argument("--only", help="comma-separated set names")
    parser.add_argument(
        "--kind", choices=("tables", "series", "strings", "motifs", "all"), default="all"
    )
    parser.add_argument("--quick", action="store_true", help="a handful of sets, 2 splits")
    parser.add_argument(
        "--model",
        choices=("IWLogisticRegression", "IWMLPClassifier", "IWLSTMClassifier"),
        help="only the rows of this estimator of ours",
    )
    parser.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="set on all our estimators that have it, e.g. optimizer__p=0.1 (repeatable)",
    )
    args = parser.parse_args(argv)
    n_splits = args.splits or (2 if args.quick else 3)
    params = parse_params(args.param)
    check_params(params)
    if args.threads == "1":
        torch.set_num_threads(1)
        threadpool_limits(1)
    selected = set_names(args.kind)
    if args.only:
        wanted = [name.strip() for name in args.only.split(",")]
        known = set_names("all")
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise SystemExit(f"--only: unknown sets {unknown}; known: {', '.join(known)}")
        selected = [name for name in selected if name in wanted]
    if args.quick:
        selected = [name for name in selected if name in QUICK]

    def log(message: str) -> None:
        print(message, flush=True)

    threads = "1 (torch and BLAS pinned)" if args.threads == "1" else "default"
    log(
        f"torch {torch.__version__}, threads: {threads}, torch threads {torch.get_num_threads()}; "
        f"{n_splits} splits; params of ours: {params or 'defaults'}"
    )
    log(source_version())
    warm_up()
    rows: list[Row] = []
    started = time.perf_counter()
    for name in selected:
        try:
            data = motif_set(name) if name in MOTIF_TASKS else load(name)
        except Exception as exc:  # a set that fails to load is reported, not fatal
            log(f"{name}: failed to load ({type(exc).__name__}: {exc})")
            continue
        log(f"{name}: {data.kind}, n={data.n_samples}, {data.shape_text}. {data.note}".rstrip())
        folds = splits(data, n_splits)
        for pair in pairs(data.kind, params):
            ours_name = pair.label.split(" / ")[0]
            if args.model and ours_name != args.model:
                continue
            row = run_pair(data, pair, folds, ours_name, log)
            rows.append(row)
            if pair.forced_row and min(row.epochs) < FORCED_EPOCHS:
                name_forced = f"{ours_name} ({FORCED_EPOCHS} epochs, no stop)"
                rows.append(run_pair(data, forced(pair), folds, name_forced, log))
    log(f"\nTotal {time.perf_counter() - started:.0f} s\n")
    print(table(rows))
    print()
    print(summary(rows))


if __name__ == "__main__":
    main()

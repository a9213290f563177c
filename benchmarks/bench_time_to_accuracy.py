"""Time to accuracy: importance weights against Adam, Adadelta and SGD.

For each data set, every optimizer trains the same model with the estimator's defaults
(batch 'auto', default learning rates and schedules) for ``--max-epochs`` epochs without
early stopping, on scaled features with 25% held out. The target is the best training
accuracy that any classic optimizer (Adam, Adadelta, SGD) reaches within those epochs;
the table gives, for each optimizer, the first epoch at which its training accuracy
reaches the target, the wall time from the start of the fit to the end of that epoch
(the training-accuracy evaluations of this benchmark excluded), and the held-out
accuracy after the last epoch. The optimizer reaching the target in the least wall time
is marked.

Data sets (the kinds the seed talk names, and the counter-examples):

- breast_cancer, IWLogisticRegression (a linear, nearly separable problem);
- digits, IWMLPClassifier hidden (64,) (10 classes);
- unbalanced: make_classification(3000, 20 features, 8 informative, classes 0.9/0.1),
  IWMLPClassifier hidden (64,);
- clusters: make_classification(3000, 20 features, 10 informative, 8 clusters per class,
  class_sep 1.5), IWMLPClassifier hidden (64,): a nonlinear many-cluster problem;
- latching: make_latching(sequences of 50 steps, noise 0.1), 500 training and 400 test
  sequences, IWLSTMClassifier hidden 16 (a long time lag).

Run ``python benchmarks/bench_time_to_accuracy.py`` on an idle machine. ``--threads``
(``_threads.py``): every race pinned to one thread (torch and BLAS), at the libraries'
defaults, or both (the default), the two rows of an optimizer adjacent.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections.abc import Sequence
from functools import partial

import numpy as np
import torch
from _threads import add_threads_argument, describe, each, selected
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from sklearn_iw import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier
from sklearn_iw.datasets import make_latching
from sklearn_iw.engine._data import eval_forward

OPTIMIZERS = ("importance_weights", "adam", "adadelta", "sgd")
CLASSIC = OPTIMIZERS[1:]


class EpochProbe(Callback):
    """Records, after every epoch, the seconds since the fit started (less the time spent
    here) and the training accuracy."""

    def __init__(self, started: float):
        self.started = started
        self.excluded = 0.0
        self.curve: list[tuple[float, float]] = []

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        now = time.perf_counter()
        was_training = net.module_.training
        net.module_.eval()
        with torch.no_grad():
            output = eval_forward(net.module_, dataset_train.X)
            accuracy = float(net.criterion_.correct(output, dataset_train.y).double().mean())
        net.module_.train(was_training)
        self.curve.append((now - self.started - self.excluded, accuracy))
        self.excluded += time.perf_counter() - now


def probed(estimator_class: type) -> type:
    """``estimator_class`` whose engine also runs an :class:`EpochProbe` (``probe_``)
    after the leave-one-out recorder, so that its work at the end of each epoch counts."""

    class Probed(estimator_class):
        def _make_engine(self, *args, **kwargs):
            engine = super()._make_engine(*args, **kwargs)
            names = [name for name, _ in engine.callbacks]
            engine.callbacks.insert(names.index("stopping"), ("probe", self.probe_))
            return engine

        def fit(self, X, y, **fit_params):
            self.probe_ = EpochProbe(time.perf_counter())
            return super().fit(X, y, **fit_params)

    Probed.__name__ = estimator_class.__name__
    return Probed


def _scaled_split(X: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=0, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return [
        scaler.transform(X_train).astype(np.float32),
        scaler.transform(X_test).astype(np.float32),
        y_train,
        y_test,
    ]


def data_sets() -> dict[str, tuple[type, dict, list[np.ndarray]]]:
    """``name -> (estimator class, its parameters, [X_train, X_test, y_train, y_test])``."""
    mlp = (IWMLPClassifier, {"hidden_layer_sizes": (64,)})
    X_u, y_u = make_classification(
        n_samples=3000, n_features=20, n_informative=8, weights=[0.9, 0.1], random_state=0
    )
    X_c, y_c = make_classification(
        n_samples=3000,
        n_features=20,
        n_informative=10,
        n_clusters_per_class=8,
        class_sep=1.5,
        random_state=0,
    )
    X_l, y_l = make_latching(900, seq_len=50, noise=0.1, random_state=0)
    latching = [X_l[:500].astype(np.float32), X_l[500:].astype(np.float32), y_l[:500], y_l[500:]]
    return {
        "breast_cancer": (
            IWLogisticRegression,
            {},
            _scaled_split(*load_breast_cancer(return_X_y=True)),
        ),
        "digits": (*mlp, _scaled_split(*load_digits(return_X_y=True))),
        "unbalanced": (*mlp, _scaled_split(X_u, y_u)),
        "clusters": (*mlp, _scaled_split(X_c, y_c)),
        "latching": (IWLSTMClassifier, {"hidden_size": 16}, latching),
    }


def run(
    estimator_class: type, params: dict, split: list[np.ndarray], optimizer: str, epochs: int
) -> tuple[list[tuple[float, float]], float]:
    """Train for ``epochs`` epochs; return the probe's curve and the held-out accuracy."""
    X_train, X_test, y_train, y_test = split
    estimator = probed(estimator_class)(
        optimizer=optimizer,
        max_iter=epochs,
        tol=0.0,
        n_iter_no_change=epochs + 1,
        random_state=0,
        **params,
    ).fit(X_train, y_train)
    return estimator.probe_.curve, estimator.score(X_test, y_test)


def race(
    estimator_class: type, params: dict, split: list[np.ndarray], epochs: int
) -> tuple[float, dict[str, tuple[int, float] | None], dict[str, float], str]:
    """Train every optimizer; return the target, each one's first (epoch, seconds) at the
    target (None if never), each one's held-out accuracy, and the fastest to the target."""
    # Not timed: the first fits of a process and of a model pay one-off costs (lazy
    # imports, allocations), which would fall on whichever optimizer runs first.
    for optimizer in OPTIMIZERS:
        run(estimator_class, params, split, optimizer, 1)
    results = {
        optimizer: run(estimator_class, params, split, optimizer, epochs)
        for optimizer in OPTIMIZERS
    }
    target = max(acc for opt in CLASSIC for _, acc in results[opt][0])
    reached = {}
    for optimizer, (curve, _) in results.items():
        hits = [(epoch, seconds) for epoch, (seconds, acc) in enumerate(curve, 1) if acc >= target]
        reached[optimizer] = hits[0] if hits else None
    fastest = min((r[1], opt) for opt, r in reached.items() if r is not None)[1]
    held_out = {optimizer: test_accuracy for optimizer, (_, test_accuracy) in results.items()}
    return target, reached, held_out, fastest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-epochs", type=int, default=60)
    add_threads_argument(parser)
    parser.add_argument("--sets", nargs="+", help="data sets to run (default: all)")
    args = parser.parse_args(argv)
    settings = selected(args.threads)
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    sets = data_sets()
    print(
        f"torch {torch.__version__}; {describe(settings)}; {args.max_epochs} epochs; "
        "target = best training accuracy of adam/adadelta/sgd; * = least time"
    )
    print(
        f"{'data set':<14} {'target':>7} {'optimizer':<19} {'threads':>7} {'epochs':>6} "
        f"{'seconds':>8} {'test acc':>8}"
    )
    for name in args.sets or sets:
        races = each(settings, partial(race, *sets[name], args.max_epochs))
        for optimizer in OPTIMIZERS:
            for setting, (target, reached, held_out, fastest) in races.items():
                hit = reached[optimizer]
                shown = f"{hit[0]:>6} {hit[1]:>8.3f}" if hit else f"{'-':>6} {'-':>8}"
                mark = "*" if optimizer == fastest else " "
                print(
                    f"{name:<14} {target:>7.4f} {optimizer:<18}{mark} {setting:>7} {shown} "
                    f"{held_out[optimizer]:>8.3f}"
                )


if __name__ == "__main__":
    main()

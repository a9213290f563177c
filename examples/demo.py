"""Short real demo: the three estimators on data shipped with scikit-learn, several optimizers.

Run with ``make demo``. Prints test accuracy, epochs, fit time (in all and per epoch, at the
libraries' default thread settings) and (for importance weights) the leave-one-out bound
and estimate of each combination next to scikit-learn's own LogisticRegression /
MLPClassifier on the same split, and the LSTM reading the digits row by row. A first small
fit warms torch up, so that the times are those of the fits themselves.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier
from sklearn_iw.solvers import Adam


def run(name, estimator, X_train, X_test, y_train, y_test, scale=True) -> str:
    model = make_pipeline(StandardScaler(), estimator) if scale else make_pipeline(estimator)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    fitted = model[-1]
    epochs = np.max(getattr(fitted, "n_iter_", 0))
    accuracy = model.score(X_test, y_test)
    iw = hasattr(fitted, "support_")
    bound = f"{fitted.loo_bound_:.3f}" if iw else ""
    estimate = f"{fitted.loo_estimate_:.3f}" if iw else ""
    per_epoch = seconds / max(epochs, 1)
    return (
        f"{name:<40} {accuracy:>8.3f} {epochs:>7} {seconds:>8.2f} {per_epoch:>8.3f} {bound:>10} "
        f"{estimate:>9}"
    )


def main() -> None:
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    X, y = load_breast_cancer(return_X_y=True)
    IWMLPClassifier(hidden_layer_sizes=(4,), max_iter=2).fit(X[:50], y[:50])
    print(
        f"{'model / optimizer':<40} {'test acc':>8} {'epochs':>7} {'fit s':>8} {'s/epoch':>8} "
        f"{'LOO bound':>10} {'LOO est.':>9}"
    )
    split = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    print("-- breast_cancer (569 x 30, 2 classes)")
    print(run("sklearn LogisticRegression", LogisticRegression(), *split))
    for optimizer in ("importance_weights", "adam", "sgd", "lbfgs"):
        estimator = IWLogisticRegression(optimizer=optimizer, random_state=0)
        print(run(f"IWLogisticRegression {optimizer}", estimator, *split))

    X, y = load_digits(return_X_y=True)
    split = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    print("-- digits (1797 x 64, 10 classes), hidden (64,), each at its defaults")
    sk_mlp = MLPClassifier(hidden_layer_sizes=(64,), random_state=0)
    print(run("sklearn MLPClassifier adam", sk_mlp, *split))
    for optimizer in ("importance_weights", "adam", "momentum", "lbfgs"):
        estimator = IWMLPClassifier(hidden_layer_sizes=(64,), optimizer=optimizer, random_state=0)
        print(run(f"IWMLPClassifier {optimizer}", estimator, *split))

    X_seq = (X / 16.0).reshape(-1, 8, 8).astype(np.float32)
    split = train_test_split(X_seq, y, test_size=0.25, random_state=0, stratify=y)
    print("-- digits as sequences (8 rows of 8 pixels), IWLSTMClassifier hidden 32")
    for name, optimizer in (("importance_weights", "importance_weights"), ("adam", Adam(0.01))):
        estimator = IWLSTMClassifier(
            hidden_size=32, optimizer=optimizer, max_iter=30, random_state=0
        )
        print(run(f"IWLSTMClassifier {name}", estimator, *split, scale=False))


if __name__ == "__main__":
    main()

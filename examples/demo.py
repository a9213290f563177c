"""Short real demo: both estimators on datasets shipped with scikit-learn, several optimizers.

Run with ``make demo``. Prints test accuracy, epochs and fit time of each combination next
to scikit-learn's own LogisticRegression / MLPClassifier on the same split.
"""

from __future__ import annotations

import time
import warnings

from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWLogisticRegression, IWMLPClassifier


def run(name, estimator, X_train, X_test, y_train, y_test) -> str:
    model = make_pipeline(StandardScaler(), estimator)
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    fitted = model[-1]
    epochs = getattr(fitted, "n_iter_", "")
    accuracy = model.score(X_test, y_test)
    return f"{name:<34} {accuracy:>8.3f} {epochs!s:>7} {seconds:>8.2f}"


def main() -> None:
    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    print(f"{'model / optimizer':<34} {'test acc':>8} {'epochs':>7} {'fit s':>8}")
    X, y = load_breast_cancer(return_X_y=True)
    split = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    print("-- breast_cancer (569 x 30, 2 classes)")
    print(run("sklearn LogisticRegression", LogisticRegression(), *split))
    for optimizer in ("adam", "sgd", "rprop", "lbfgs"):
        estimator = IWLogisticRegression(optimizer=optimizer, random_state=0)
        print(run(f"IWLogisticRegression {optimizer}", estimator, *split))

    X, y = load_digits(return_X_y=True)
    split = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)
    print("-- digits (1797 x 64, 10 classes), hidden (64,)")
    sk_mlp = MLPClassifier(hidden_layer_sizes=(64,), max_iter=50, random_state=0)
    print(run("sklearn MLPClassifier adam", sk_mlp, *split))
    for optimizer in ("adam", "momentum", "rmsprop", "lbfgs"):
        estimator = IWMLPClassifier(
            hidden_layer_sizes=(64,), optimizer=optimizer, max_iter=50, random_state=0
        )
        print(run(f"IWMLPClassifier {optimizer}", estimator, *split))


if __name__ == "__main__":
    main()

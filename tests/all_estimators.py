"""The six estimators at small settings, by name, and a small data set: the cases of the
tests that run every estimator."""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

import numpy as np

from sklearn_iw import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier


class Entry(NamedTuple):
    """An estimator under test: a factory of small, fast instances, and whether it takes
    tabular input only (a sequence estimator reads 2D input as univariate sequences and
    accepts 3D input)."""

    make: partial
    tabular: bool


ESTIMATORS = {
    "logistic": Entry(partial(IWLogisticRegression, max_iter=3, random_state=0), True),
    "mlp": Entry(
        partial(IWMLPClassifier, hidden_layer_sizes=(4,), max_iter=3, random_state=0), True
    ),
    "lstm": Entry(partial(IWLSTMClassifier, hidden_size=4, max_iter=3, random_state=0), False),
}
NAMES = list(ESTIMATORS)


def data(n_samples=20, n_features=4, seed=0):
    """A small binary problem with both classes in every half of the samples."""
    rng = np.random.RandomState(seed)
    X = rng.randn(n_samples, n_features)
    y = np.arange(n_samples) % 2
    X[y == 1] += 1.0
    return X, y

"""Classification data sets and numpy transcriptions that several test modules check against."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy.special import erf
from sklearn.datasets import (
    load_iris,
    make_blobs,
    make_classification,
)
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import StandardScaler


@cache
def _scaled_iris():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def iris():
    X, y = _scaled_iris()
    return X.copy(), y.copy()


def small_problem(n_classes=2, n_samples=120, n_features=4, seed=0):
    X, y = make_classification(
        n_samples=n_samples,
        n_features=n_features,
        n_informative=n_features,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        class_sep=1.5,
        random_state=seed,
    )
    return X, y


def easy_blobs(n_samples=300, centers=2, seed=0):
    return make_blobs(
        n_samples=n_samples, n_features=2, centers=centers, cluster_std=0.5, random_state=seed
    )


SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def np_soboleva_tanh(x, a=1.0, b=1.0, c=1.0, d=2.0):
    """The formula as written (overflows beyond |x| ~ 700 / max(a, b, c, d))."""
    return (np.exp(a * x) - np.exp(-b * x)) / (np.exp(c * x) + np.exp(-d * x))


def np_maxout(v, pieces):
    """Unit j is the maximum of inputs j * pieces ... (j + 1) * pieces - 1."""
    n_units = v.shape[-1] // pieces
    units = [v[..., j * pieces : (j + 1) * pieces].max(axis=-1) for j in range(n_units)]
    return np.stack(units, axis=-1)


def np_activation(name, x, prelu_slope=0.25, pieces=2):
    formulas = {
        "identity": lambda v: v,
        "logistic": lambda v: 1.0 / (1.0 + np.exp(-v)),
        "tanh": np.tanh,
        "lecun_tanh": lambda v: 1.7159 * np.tanh(2.0 * v / 3.0),
        "relu": lambda v: np.maximum(v, 0.0),
        "leaky_relu": lambda v: np.where(v > 0, v, 0.01 * v),
        "prelu": lambda v: np.where(v > 0, v, prelu_slope * v),
        "elu": lambda v: np.where(v > 0, v, np.expm1(v)),
        "selu": lambda v: SELU_SCALE * np.where(v > 0, v, SELU_ALPHA * np.expm1(v)),
        "gelu": lambda v: 0.5 * v * (1.0 + erf(v / math.sqrt(2.0))),
        "silu": lambda v: v / (1.0 + np.exp(-v)),
        "softplus": lambda v: np.logaddexp(0.0, v),
        "gaussian": lambda v: np.exp(-(v**2)),
        "soboleva_tanh": np_soboleva_tanh,
        "maxout": lambda v: np_maxout(v, pieces),
    }
    return formulas[name](x)


def np_mlp_forward(est, X, activation="relu", prelu_slopes=None):
    """Forward pass of a fitted IWMLPClassifier from its coefs_/intercepts_ only."""
    h = X
    n_layers = len(est.coefs_)
    for i, (W, b) in enumerate(zip(est.coefs_, est.intercepts_, strict=True)):
        h = h @ W + b
        if i < n_layers - 1:
            slope = 0.25 if prelu_slopes is None else prelu_slopes[i]
            h = np_activation(activation, h, prelu_slope=slope)
    return h


def sgd_with_weights(X, y, coef, intercept):
    """An SGDClassifier(modified_huber) whose weights are replaced by the given ones."""
    sgd = SGDClassifier(loss="modified_huber", max_iter=5, tol=None, random_state=0).fit(X, y)
    sgd.coef_ = np.asarray(coef, dtype=np.float64)
    sgd.intercept_ = np.asarray(intercept, dtype=np.float64)
    return sgd

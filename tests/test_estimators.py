"""Behaviour of IWLogisticRegression and IWMLPClassifier as scikit-learn classifiers.

Numbers are checked against independent references: numpy transcriptions of the formulas
(losses, activations, forward passes) and scikit-learn's own estimators (LogisticRegression,
SGDClassifier, MLPClassifier).
"""

from __future__ import annotations

import math
import pickle
import re
import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import erf, expit, logsumexp, softmax
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    load_iris,
    make_blobs,
    make_classification,
    make_multilabel_classification,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.class_weight import compute_sample_weight

from sklearn_iw import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier
from sklearn_iw.engine._engine import TrainingEngine
from sklearn_iw.engine._losses import ClassificationLoss
from sklearn_iw.estimators._layers import (
    ACTIVATIONS,
    INITS,
    SobolevaTanh,
    activation_inputs,
    make_activation,
    resolve_init,
)
from sklearn_iw.solvers import OPTIMIZERS, SGD, Adam

# Most fits below are deliberately short; their ConvergenceWarning is noise here (the
# warning itself is tested with pytest.warns, which records regardless of this filter).
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


# --------------------------------------------------------------------------- data
@cache
def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


@cache
def _iris():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    X.setflags(write=False)
    y.setflags(write=False)
    return X, y


def cancer():
    X, y = _cancer()
    return X.copy(), y.copy()


def iris():
    X, y = _iris()
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


def lbfgs_logistic(**params):
    """Full-batch L-BFGS run until an epoch no longer lowers the loss at all (tol=0).

    alpha=1 (the objective of LogisticRegression(C=1)) unless given.
    """
    params.setdefault("alpha", 1.0)
    return IWLogisticRegression(
        optimizer="lbfgs", max_iter=500, tol=0.0, n_iter_no_change=10, **params
    )


def reference_logistic(X, y, sample_weight=None):
    """scikit-learn's L2 logistic regression with C=1, solved far below our tolerances."""
    return LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(
        X, y, sample_weight=sample_weight
    )


# --------------------------------------------------------------------------- numpy references
def np_margin_loss(z, loss):
    if loss == "log_loss":
        return np.logaddexp(0.0, -z)
    if loss in ("hinge", "crammer_singer_hinge"):
        return np.maximum(0.0, 1.0 - z)
    if loss == "squared_hinge":
        return np.maximum(0.0, 1.0 - z) ** 2
    assert loss == "modified_huber"
    return np.where(z >= -1.0, np.maximum(0.0, 1.0 - z) ** 2, -4.0 * z)


def np_multiclass_loss(f, y, loss):
    n, k = f.shape
    out = np.zeros(n)
    for i in range(n):
        if loss == "log_loss":
            out[i] = logsumexp(f[i]) - f[i, y[i]]
        elif loss == "modified_huber":
            sign = np.where(np.arange(k) == y[i], 1.0, -1.0)
            out[i] = np_margin_loss(sign * f[i], loss).sum()
        elif loss == "crammer_singer_hinge":
            others = [f[i, j] - f[i, y[i]] + 1.0 for j in range(k) if j != y[i]]
            out[i] = max(0.0, max(others))
        else:
            for j in range(k):
                if j == y[i]:
                    continue
                term = max(0.0, f[i, j] - f[i, y[i]] + 1.0)
                out[i] += term**2 if loss == "squared_hinge" else term
    return out


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


# --------------------------------------------------------------------------- grid search
def test_grid_search_pipeline_logistic_tunes_nested_optimizer_lr():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.RandomState(0)
    keep = rng.choice(len(y), 240, replace=False)
    X, y = X[keep], y[keep]
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("est", IWLogisticRegression(optimizer=Adam(), max_iter=30, random_state=0)),
        ]
    )
    grid = [1e-3, 1e-2]
    search = GridSearchCV(pipe, {"est__optimizer__lr": grid}, cv=3, n_jobs=2).fit(X, y)

    assert search.best_params_["est__optimizer__lr"] in grid
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,)
    assert np.all(np.isfinite(scores))
    assert search.best_score_ == pytest.approx(scores.max())
    best = search.best_estimator_.named_steps["est"]
    # The nested parameter reached the torch optimizer of the refitted model.
    assert best.optimizer.lr == search.best_params_["est__optimizer__lr"]
    assert best.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(best.optimizer.lr)
    # The estimator in the pipeline was not modified by the search.
    assert pipe.named_steps["est"].optimizer.lr == Adam().lr
    assert search.score(X, y) > 0.9


def test_grid_search_pipeline_mlp():
    X, y = load_breast_cancer(return_X_y=True)
    rng = np.random.RandomState(1)
    keep = rng.choice(len(y), 180, replace=False)
    X, y = X[keep], y[keep]
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "est",
                IWMLPClassifier(
                    hidden_layer_sizes=(4,), optimizer=Adam(), max_iter=15, random_state=0
                ),
            ),
        ]
    )
    param_grid = {"est__optimizer__lr": [1e-3, 1e-2], "est__hidden_layer_sizes": [(3,), (6,)]}
    search = GridSearchCV(pipe, param_grid, cv=3, n_jobs=2).fit(X, y)

    assert search.best_params_["est__optimizer__lr"] in param_grid["est__optimizer__lr"]
    assert search.best_params_["est__hidden_layer_sizes"] in param_grid["est__hidden_layer_sizes"]
    assert len(search.cv_results_["params"]) == 4
    best = search.best_estimator_.named_steps["est"]
    assert best.coefs_[0].shape == (30, search.best_params_["est__hidden_layer_sizes"][0])
    assert best.net_.optimizer_.param_groups[0]["lr"] == pytest.approx(
        search.best_params_["est__optimizer__lr"]
    )


# --------------------------------------------------------------------------- clone / pickle
ROUND_TRIP_ESTIMATORS = [
    IWLogisticRegression(optimizer="sgd", batch_size=32, max_iter=5, random_state=3),
    IWMLPClassifier(
        hidden_layer_sizes=(6,), dropout=0.2, batch_size=32, max_iter=5, random_state=3
    ),
]


@pytest.mark.parametrize("template", ROUND_TRIP_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_pickle_round_trip_gives_identical_predictions(template):
    X, y = small_problem(n_classes=3)
    est = clone(template).fit(X, y)
    restored = pickle.loads(pickle.dumps(est))
    assert_array_equal(restored.predict(X), est.predict(X))
    assert_array_equal(restored.predict_proba(X), est.predict_proba(X))
    assert_array_equal(restored.decision_function(X), est.decision_function(X))
    assert restored.n_iter_ == est.n_iter_
    assert restored.loss_curve_ == est.loss_curve_


@pytest.mark.parametrize("template", ROUND_TRIP_ESTIMATORS, ids=lambda e: type(e).__name__)
def test_clone_is_unfitted_and_refits_identically(template):
    X, y = small_problem(n_classes=3)
    est = clone(template).fit(X, y)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "net_")
    with pytest.raises(NotFittedError):
        copy.predict(X)
    copy.fit(X, y)
    assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    assert_array_equal(copy.predict(X), est.predict(X))


# --------------------------------------------------------------------------- pandas
def _predict_outcome(est, X):
    """(exception type or None, categories of feature-name warnings) of est.predict(X)."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        try:
            est.predict(X)
            error = None
        except ValueError as exc:
            error = (type(exc), "feature names should match" in str(exc))
    categories = [w.category for w in record if "feature names" in str(w.message)]
    return error, categories


@pytest.mark.parametrize("cls", [IWLogisticRegression, IWMLPClassifier])
def test_dataframe_feature_names_follow_sklearn(cls):
    X, y = small_problem()
    columns = ["alpha", "beta", "gamma", "delta"]
    df = pd.DataFrame(X, columns=columns)
    kwargs = {"hidden_layer_sizes": (4,)} if cls is IWMLPClassifier else {}
    est = cls(max_iter=3, random_state=0, **kwargs).fit(df, y)
    assert_array_equal(est.feature_names_in_, np.array(columns, dtype=object))
    assert est.n_features_in_ == 4
    reference = LogisticRegression(max_iter=50).fit(df, y)

    renamed = df.rename(columns={"beta": "b"})
    shuffled = df[["beta", "alpha", "gamma", "delta"]]
    for X_pred in (df, renamed, shuffled, X):
        assert _predict_outcome(est, X_pred) == _predict_outcome(reference, X_pred)
    # The expectations are not vacuous: sklearn raises on other names, warns on arrays.
    assert _predict_outcome(est, renamed) == ((ValueError, True), [])
    assert _predict_outcome(est, X) == (None, [UserWarning])
    assert _predict_outcome(est, df) == (None, [])

    # Fitted on an array: no feature_names_in_, and a DataFrame at predict time warns.
    est_np = cls(max_iter=3, random_state=0, **kwargs).fit(X, y)
    assert not hasattr(est_np, "feature_names_in_")
    assert _predict_outcome(est_np, df) == (None, [UserWarning])


# --------------------------------------------------------------------------- string labels
@pytest.mark.parametrize("cls", [IWLogisticRegression, IWMLPClassifier])
def test_string_labels_binary(cls):
    X, y = easy_blobs()
    labels = np.where(y == 0, "dog", "cat")  # "dog" comes first in y, sorts last
    assert labels[0] == "dog"
    est = cls(optimizer=Adam(lr=0.05), max_iter=40, random_state=0).fit(X, labels)
    assert_array_equal(est.classes_, ["cat", "dog"])
    pred = est.predict(X)
    assert pred.dtype.kind in "UO"
    assert set(pred) <= {"cat", "dog"}
    assert np.mean(pred == labels) > 0.95
    # The positive output is the second class of classes_, as in scikit-learn.
    assert_array_equal(pred, np.where(est.decision_function(X) > 0, "dog", "cat"))


@pytest.mark.parametrize("cls", [IWLogisticRegression, IWMLPClassifier])
def test_string_labels_three_classes(cls):
    X, y = easy_blobs(centers=3)
    names = np.array(["zebra", "ant", "moth"])
    labels = names[y]
    est = cls(optimizer=Adam(lr=0.05), max_iter=60, random_state=0).fit(X, labels)
    assert_array_equal(est.classes_, ["ant", "moth", "zebra"])
    pred = est.predict(X)
    assert set(pred) <= set(names)
    assert np.mean(pred == labels) > 0.95
    proba = est.predict_proba(X)
    assert_array_equal(pred, est.classes_[proba.argmax(axis=1)])


# --------------------------------------------------------------------------- seeding
def test_random_state_reproducible_mlp_with_dropout():
    X, y = small_problem(n_classes=3)
    params = dict(hidden_layer_sizes=(16,), dropout=0.5, batch_size=16, max_iter=8)
    a = IWMLPClassifier(random_state=7, **params).fit(X, y)
    b = IWMLPClassifier(random_state=7, **params).fit(X, y)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.loss_curve_ == b.loss_curve_
    # Dropout is off at prediction: repeated calls agree.
    assert_array_equal(a.predict_proba(X), a.predict_proba(X))
    c = IWMLPClassifier(random_state=8, **params).fit(X, y)
    assert not np.allclose(a.coefs_[0], c.coefs_[0])
    assert not np.allclose(a.predict_proba(X), c.predict_proba(X))


def test_random_state_reproducible_logistic_with_shuffling():
    X, y = small_problem()
    params = dict(optimizer=SGD(lr=0.1), batch_size=10, max_iter=4)
    a = IWLogisticRegression(random_state=0, **params).fit(X, y)
    b = IWLogisticRegression(random_state=0, **params).fit(X, y)
    assert_array_equal(a.coef_, b.coef_)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    # Another seed shuffles the minibatches differently: other weights.
    c = IWLogisticRegression(random_state=1, **params).fit(X, y)
    assert not np.allclose(a.coef_, c.coef_)


def test_random_state_instance_and_none_are_accepted():
    X, y = small_problem()
    est = IWMLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=None).fit(X, y)
    assert est.predict(X).shape == (len(y),)
    rs = np.random.RandomState(0)
    est = IWMLPClassifier(hidden_layer_sizes=(4,), max_iter=2, random_state=rs).fit(X, y)
    assert est.predict(X).shape == (len(y),)


# --------------------------------------------------------------------------- activations
@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_activation_module_matches_numpy_formula(name):
    x = np.linspace(-6.0, 6.0, activation_inputs(name, 241))  # maxout: 2 inputs a unit
    module = make_activation(name, width=241).double()
    out = module(torch.as_tensor(x)[None, :])
    assert_allclose(out.detach().numpy()[0], np_activation(name, x), rtol=1e-6, atol=1e-9)


def test_lecun_tanh_and_gaussian_values():
    x = np.array([-3.0, -1.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    lecun = make_activation("lecun_tanh", 1)(torch.as_tensor(x)).numpy()
    gauss = make_activation("gaussian", 1)(torch.as_tensor(x)).numpy()
    assert_allclose(lecun, 1.7159 * np.tanh(2.0 * x / 3.0), rtol=1e-12)
    assert_allclose(gauss, np.exp(-(x**2)), rtol=1e-12)
    # LeCun's design points: f(+-1) = +-1 (approximately) and f(0) = 0; gaussian peaks at 1.
    assert lecun[5] == pytest.approx(1.0, abs=1e-3)
    assert gauss[3] == 1.0


@pytest.mark.parametrize("pieces", [2, 3, 5])
def test_maxout_is_the_max_over_each_units_pieces(pieces):
    x = np.random.RandomState(0).normal(size=(2, 7, 4 * pieces))
    out = make_activation("maxout", 4, pieces)(torch.as_tensor(x)).numpy()
    assert out.shape == (2, 7, 4)
    assert_array_equal(out, np_maxout(x, pieces))
    # Every piece wins somewhere: the max is not always taken from the same position.
    winners = x.reshape(2, 7, 4, pieces).argmax(axis=-1)
    assert set(np.unique(winners)) == set(range(pieces))


@pytest.mark.parametrize("params", [(1.0, 1.0, 1.0, 2.0), (0.5, 1.5, 2.0, 1.0), (1, 1, 1, 1)])
def test_soboleva_tanh_matches_the_formula(params):
    x = np.linspace(-30.0, 30.0, 2001)
    got = SobolevaTanh(*params)(torch.as_tensor(x)).numpy()
    assert_allclose(got, np_soboleva_tanh(x, *params), rtol=1e-12, atol=1e-15)
    if params == (1, 1, 1, 1):  # a = b = c = d is tanh(a x)
        assert_allclose(got, np.tanh(x), rtol=1e-12, atol=1e-15)


def test_soboleva_tanh_defaults_differ_from_tanh():
    f = make_activation("soboleva_tanh", 1)
    x = torch.tensor([-math.log(2.0), 0.0, 40.0], dtype=torch.float64, requires_grad=True)
    y = f(x)
    # The documented shape: the dip -1/3 at -ln 2, 0 at 0, limit +1 on the right ...
    assert_allclose(y.detach().numpy(), [-1.0 / 3.0, 0.0, 1.0], rtol=1e-12, atol=1e-15)
    # ... slope 1 at 0 (as tanh) and a stationary point at -ln 2 (tanh has none).
    (slope,) = torch.autograd.grad(y.sum(), x)
    assert_allclose(slope.numpy()[:2], [0.0, 1.0], atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_soboleva_tanh_is_finite_for_large_inputs(dtype):
    # e^{2|x|} overflows float32 from |x| ~ 44 and float64 from ~ 355; the formula as
    # written gives inf / inf there.
    x = torch.tensor([-1e6, -800.0, -100.0, 100.0, 800.0, 1e6], dtype=dtype, requires_grad=True)
    y = make_activation("soboleva_tanh", 1)(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(y).all() and torch.isfinite(grad).all()
    # The limits: 0 (from below) on the left, 1 on the right.
    assert_allclose(y.detach().double().numpy(), [0, 0, 0, 1, 1, 1], atol=1e-30)
    assert (y[:3] <= 0).all()


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_every_activation_trains_and_forward_pass_matches_numpy(name):
    X, y = small_problem(n_classes=3)
    est = IWMLPClassifier(
        hidden_layer_sizes=(8,),
        activation=name,
        optimizer=Adam(lr=0.02),
        batch_size="full",
        max_iter=12,
        n_iter_no_change=100,
        random_state=0,
    ).fit(X, y)
    assert est.n_iter_ == 12
    assert np.all(np.isfinite(est.loss_curve_))
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    proba = est.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    slopes = None
    if name == "prelu":
        prelu = [m for m in est.net_.module_ if isinstance(m, torch.nn.PReLU)]
        slopes = [m.weight.detach().numpy() for m in prelu]
    scores = np_mlp_forward(est, X, activation=name, prelu_slopes=slopes)
    assert_allclose(est.decision_function(X), scores, rtol=1e-9, atol=1e-10)


def test_unknown_activation_raises():
    X, y = small_problem()
    with pytest.raises(InvalidParameterError, match="The 'activation' parameter"):
        IWMLPClassifier(activation="swish3").fit(X, y)


# --------------------------------------------------------------------------- initialisations
FAN_IN, FAN_OUT = 400, 600  # LeCun, Glorot and He scales differ by > 10 % at these fans


def _initial_hidden_weight(init, activation="relu", fan_in=FAN_IN, fan_out=FAN_OUT, seed=0):
    """Hidden weight matrix (fan_out, fan_in) as the estimator initialises it.

    One epoch of SGD with lr=1e-12 moves the weights by < 1e-10, far below the scales.
    """
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(40, fan_in))
    y = np.arange(40) % 2
    est = IWMLPClassifier(
        hidden_layer_sizes=(fan_out,),
        activation=activation,
        init=init,
        optimizer=SGD(lr=1e-12),
        batch_size="full",
        max_iter=1,
        random_state=seed,
    ).fit(X, y)
    return est.coefs_[0].T, est.intercepts_[0]


EXPECTED_STD = {
    "lecun": math.sqrt(1.0 / FAN_IN),
    "glorot": math.sqrt(2.0 / (FAN_IN + FAN_OUT)),
    "he": math.sqrt(2.0 / FAN_IN),
}


@pytest.mark.parametrize("init", [i for i in INITS if i.endswith(("_normal", "_uniform"))])
def test_fan_based_init_variance(init):
    W, b = _initial_hidden_weight(init)
    family, kind = init.split("_")
    std = EXPECTED_STD[family]
    assert W.shape == (FAN_OUT, FAN_IN)
    assert_allclose(b, 0.0, atol=1e-9)
    assert abs(W.mean()) < 0.05 * std
    assert W.std() == pytest.approx(std, rel=0.05)
    # The other families' scales are excluded by the 5 % tolerance.
    for other, other_std in EXPECTED_STD.items():
        if other != family:
            assert W.std() != pytest.approx(other_std, rel=0.05)
    bound = math.sqrt(3.0) * std
    if kind == "uniform":
        assert np.abs(W).max() <= bound + 1e-12
        assert np.abs(W).max() > 0.99 * bound
        # A uniform sample has no tails: a quarter of |w| lies above 0.75 * bound.
        assert np.mean(np.abs(W) > 0.75 * bound) == pytest.approx(0.25, abs=0.01)
    else:
        # A normal sample has tails beyond sqrt(3) std (P = 8.3 %).
        assert np.mean(np.abs(W) > bound) == pytest.approx(0.0833, abs=0.01)


def test_orthogonal_init():
    # fan_out >= fan_in: the columns of the torch weight (fan_out, fan_in) are orthonormal.
    W, b = _initial_hidden_weight("orthogonal", fan_in=200, fan_out=300)
    assert_allclose(W.T @ W, np.eye(200), atol=1e-5)
    assert_allclose(b, 0.0, atol=1e-9)
    # A wide layer has orthonormal rows instead.
    W, _ = _initial_hidden_weight("orthogonal", fan_in=300, fan_out=200)
    assert_allclose(W @ W.T, np.eye(200), atol=1e-5)


def test_sparse_init_zero_fraction_per_column():
    W, b = _initial_hidden_weight("sparse")
    # Zero-initialised weights moved by < 1e-10 in the one tiny SGD step.
    zero_fraction = np.mean(np.abs(W) < 1e-9, axis=0)  # per column: per input unit
    assert zero_fraction.shape == (FAN_IN,)
    assert_allclose(zero_fraction, math.ceil(0.9 * FAN_OUT) / FAN_OUT, atol=1e-12)
    assert_allclose(zero_fraction, 0.9, atol=2.0 / FAN_OUT)
    nonzero = W[np.abs(W) >= 1e-9]
    assert nonzero.std() == pytest.approx(0.01, rel=0.05)
    assert_allclose(b, 0.0, atol=1e-9)


def test_sparse_init_keeps_a_nonzero_weight_in_narrow_layers():
    W, _ = _initial_hidden_weight("sparse", fan_in=4, fan_out=8)
    assert np.all((np.abs(W) >= 1e-9).sum(axis=0) >= 1)


@pytest.mark.parametrize(
    ("activation", "resolved"),
    [
        ("relu", "he_uniform"),
        ("gelu", "he_uniform"),
        ("selu", "lecun_normal"),
        ("tanh", "glorot_uniform"),
        ("logistic", "glorot_uniform"),
    ],
)
def test_auto_init_resolution(activation, resolved):
    assert resolve_init("auto", activation) == resolved
    family = resolved.split("_")[0]
    W, _ = _initial_hidden_weight("auto", activation=activation)
    assert W.std() == pytest.approx(EXPECTED_STD[family], rel=0.05)


@pytest.mark.parametrize("init", INITS)
def test_every_init_trains_a_small_network(init):
    X, y = small_problem(n_classes=3)
    est = IWMLPClassifier(
        hidden_layer_sizes=(16,),
        activation="tanh",
        init=init,
        optimizer=Adam(lr=0.02),
        batch_size="full",
        max_iter=10,
        n_iter_no_change=100,
        random_state=0,
    ).fit(X, y)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    assert np.all(np.isfinite(est.predict_proba(X)))


def test_unknown_init_raises():
    X, y = small_problem()
    with pytest.raises(InvalidParameterError, match="The 'init' parameter"):
        IWMLPClassifier(init="xavier").fit(X, y)


# --------------------------------------------------------------------------- losses
LOSS_NAMES = ["log_loss", "hinge", "squared_hinge", "modified_huber", "crammer_singer_hinge"]


def _outputs(shape, seed=0):
    # Scale 2: margins fall on every branch (z < -1, -1 <= z < 1, z >= 1).
    return np.random.RandomState(seed).normal(scale=2.0, size=shape)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_binary_per_sample_loss(loss):
    f = _outputs((300, 1))
    y = np.random.RandomState(1).randint(0, 2, size=300)
    z = (2 * y - 1) * f[:, 0]
    assert (z < -1).any() and ((z >= -1) & (z < 1)).any() and (z >= 1).any()
    criterion = ClassificationLoss(loss, "binary")
    got = criterion(torch.as_tensor(f), torch.as_tensor(y)).numpy()
    assert got.shape == (300,)
    assert_allclose(got, np_margin_loss(z, loss), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_multiclass_per_sample_loss(loss):
    f = _outputs((200, 4))
    y = np.random.RandomState(1).randint(0, 4, size=200)
    criterion = ClassificationLoss(loss, "multiclass")
    got = criterion(torch.as_tensor(f), torch.as_tensor(y)).numpy()
    assert got.shape == (200,)
    assert_allclose(got, np_multiclass_loss(f, y, loss), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("loss", LOSS_NAMES)
def test_multilabel_per_sample_loss(loss):
    f = _outputs((150, 3))
    Y = np.random.RandomState(1).randint(0, 2, size=(150, 3))
    criterion = ClassificationLoss(loss, "multilabel")
    got = criterion(torch.as_tensor(f), torch.as_tensor(Y, dtype=torch.float64)).numpy()
    expected = np_margin_loss((2 * Y - 1) * f, loss).sum(axis=1)
    assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_multiclass_hinge_hand_values():
    f = torch.tensor([[2.0, 1.5, -1.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1, 2])
    # Row 0: max(0, 1.5-2+1) + max(0, -1-2+1) = 0.5; row 1: 1 + 1; row 2: 4 + 1.
    hinge = ClassificationLoss("hinge", "multiclass")(f, y).numpy()
    assert_allclose(hinge, [0.5, 2.0, 5.0])
    squared = ClassificationLoss("squared_hinge", "multiclass")(f, y).numpy()
    assert_allclose(squared, [0.25, 2.0, 17.0])
    # Crammer-Singer: the largest term alone (row 1: max(1, 1); row 2: max(4, 1)).
    crammer_singer = ClassificationLoss("crammer_singer_hinge", "multiclass")(f, y).numpy()
    assert_allclose(crammer_singer, [0.5, 1.0, 4.0])


def np_crammer_singer_subgradient(f, y):
    """d/df of max(0, max_{j != y} (f_j - f_y + 1)): +1 at the most violating class and
    -1 at the true one where the loss is positive, else 0 (at points without ties)."""
    grad = np.zeros_like(f)
    for i in range(f.shape[0]):
        terms = f[i] - f[i, y[i]] + 1.0
        terms[y[i]] = -np.inf
        j = int(np.argmax(terms))
        if terms[j] > 0:
            grad[i, j], grad[i, y[i]] = 1.0, -1.0
    return grad


def test_crammer_singer_subgradient_matches_numpy():
    f = _outputs((400, 5))
    y = np.random.RandomState(1).randint(0, 5, size=400)
    # Away from ties: the two largest competitors, and the largest and 0, differ.
    terms = f - f[np.arange(400), y][:, None] + 1.0
    terms[np.arange(400), y] = -np.inf
    top2 = np.sort(terms, axis=1)[:, -2:]
    keep = (top2[:, 1] - top2[:, 0] > 1e-3) & (np.abs(top2[:, 1]) > 1e-3)
    f, y = f[keep], y[keep]
    assert len(y) > 300 and (top2[keep, 1] < 0).any() and (top2[keep, 1] > 0).any()
    output = torch.as_tensor(f).requires_grad_(True)
    losses = ClassificationLoss("crammer_singer_hinge", "multiclass")(output, torch.as_tensor(y))
    (grad,) = torch.autograd.grad(losses.sum(), output)
    assert_array_equal(grad.numpy(), np_crammer_singer_subgradient(f, y))


def test_crammer_singer_hinge_classifies_iris():
    X, y = iris()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.3, random_state=0, stratify=y
    )
    est = IWLogisticRegression(loss="crammer_singer_hinge", random_state=0).fit(X_train, y_train)
    assert est.score(X_test, y_test) >= 0.9
    scores = est.decision_function(X_test)
    assert scores.shape == (len(y_test), 3)
    assert_array_equal(est.predict(X_test), est.classes_[scores.argmax(axis=1)])
    # As for 'hinge': a margin loss gives no probabilities.
    assert not hasattr(est, "predict_proba")
    # Its own loss: the objective differs from the summed hinge (one term a sample). With
    # Adam, since importance weights with p=1 ask every step to remove each sample's loss,
    # and where one class at most violates the margin both losses give the same step.
    fits = [
        IWLogisticRegression(loss=loss, optimizer="adam", random_state=0).fit(X_train, y_train)
        for loss in ("crammer_singer_hinge", "hinge")
    ]
    assert not np.allclose(fits[0].coef_, fits[1].coef_)


@pytest.mark.parametrize(
    ("loss", "task", "n_classes", "expected"),
    [
        ("log_loss", "binary", 2, math.log(2.0)),
        ("hinge", "binary", 2, 1.0),
        ("squared_hinge", "binary", 2, 1.0),
        ("modified_huber", "binary", 2, 1.0),
        ("crammer_singer_hinge", "binary", 2, 1.0),
        ("log_loss", "multiclass", 3, math.log(3.0)),
        ("hinge", "multiclass", 3, 2.0),
        ("squared_hinge", "multiclass", 3, 2.0),
        ("modified_huber", "multiclass", 3, 3.0),
        ("crammer_singer_hinge", "multiclass", 3, 1.0),
    ],
)
def test_estimator_first_epoch_loss_at_zero_weights(loss, task, n_classes, expected):
    # One full-batch step per epoch: the first recorded loss is the loss of the
    # zero-initialised linear model, whose every output is 0.
    X, y = small_problem(n_classes=n_classes)
    est = IWLogisticRegression(
        loss=loss, optimizer=SGD(lr=0.01), batch_size="full", max_iter=2
    ).fit(X, y)
    assert est.loss_curve_[0] == pytest.approx(expected, rel=1e-12)
    assert est.loss_curve_[1] < est.loss_curve_[0]


def test_binary_and_multiclass_probabilities():
    f1 = _outputs((50, 1))
    p = ClassificationLoss("log_loss", "binary").proba(torch.as_tensor(f1)).numpy()
    assert_allclose(p, np.column_stack([expit(-f1[:, 0]), expit(f1[:, 0])]), rtol=1e-12)
    f3 = _outputs((50, 3))
    p = ClassificationLoss("log_loss", "multiclass").proba(torch.as_tensor(f3)).numpy()
    assert_allclose(p, softmax(f3, axis=1), rtol=1e-12)
    p = ClassificationLoss("log_loss", "multilabel").proba(torch.as_tensor(f3)).numpy()
    assert_allclose(p, expit(f3), rtol=1e-12)
    p = ClassificationLoss("modified_huber", "multilabel").proba(torch.as_tensor(f3)).numpy()
    assert_allclose(p, (np.clip(f3, -1, 1) + 1) / 2, rtol=1e-12)


def _sgd_with_weights(X, y, coef, intercept):
    """An SGDClassifier(modified_huber) whose weights are replaced by the given ones."""
    sgd = SGDClassifier(loss="modified_huber", max_iter=5, tol=None, random_state=0).fit(X, y)
    sgd.coef_ = np.asarray(coef, dtype=np.float64)
    sgd.intercept_ = np.asarray(intercept, dtype=np.float64)
    return sgd


@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_modified_huber_proba_matches_sgdclassifier(data):
    X, y = cancer() if data == "binary" else iris()
    est = IWLogisticRegression(
        loss="modified_huber", optimizer=Adam(lr=0.05), max_iter=40, random_state=0
    ).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), len(np.unique(y)))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    sgd = _sgd_with_weights(X, y, est.coef_, est.intercept_)
    assert_allclose(est.decision_function(X), sgd.decision_function(X), rtol=1e-10, atol=1e-12)
    assert_allclose(proba, sgd.predict_proba(X), rtol=1e-10, atol=1e-12)
    assert est.score(X, y) > 0.9


def test_modified_huber_proba_all_scores_below_minus_one_is_uniform():
    # Decision values taken as the inputs of an identity linear model.
    D = np.array([[-2.0, -1.5, -3.0], [-1.0, -1.0, -1.0], [0.5, -2.0, 2.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 1, 2, 0])
    sgd = _sgd_with_weights(D, y, np.eye(3), np.zeros(3))
    proba = ClassificationLoss("modified_huber", "multiclass").proba(torch.as_tensor(D)).numpy()
    assert_allclose(proba, sgd.predict_proba(D), rtol=1e-12)
    assert_allclose(proba[0], [1 / 3] * 3)
    assert_allclose(proba[2], [0.75 / 1.75, 0.0, 1.0 / 1.75])


@pytest.mark.parametrize("loss", ["hinge", "squared_hinge", "crammer_singer_hinge"])
def test_margin_losses_have_no_predict_proba(loss):
    X, y = small_problem()
    est = IWLogisticRegression(loss=loss, max_iter=5).fit(X, y)
    assert not hasattr(est, "predict_proba")
    assert not hasattr(est, "predict_log_proba")
    assert_array_equal(est.predict(X), (est.decision_function(X) > 0).astype(int))


def test_predict_log_proba_is_log_of_predict_proba():
    X, y = iris()
    est = IWLogisticRegression(max_iter=20, random_state=0).fit(X, y)
    assert_allclose(est.predict_log_proba(X), np.log(est.predict_proba(X)), rtol=1e-12)


# --------------------------------------------------------------------------- weights / shapes
@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_coef_shapes_match_sklearn_logistic_regression(data):
    X, y = cancer() if data == "binary" else iris()
    est = IWLogisticRegression(max_iter=5, random_state=0).fit(X, y)
    ref = LogisticRegression(max_iter=5).fit(X, y)
    assert est.coef_.shape == ref.coef_.shape
    assert est.intercept_.shape == ref.intercept_.shape
    assert est.decision_function(X).shape == ref.decision_function(X).shape
    assert_allclose(
        est.decision_function(X), np.squeeze(X @ est.coef_.T + est.intercept_), rtol=1e-10
    )
    assert np.any(est.intercept_ != 0)

    no_intercept = IWLogisticRegression(fit_intercept=False, max_iter=5).fit(X, y)
    assert no_intercept.intercept_.shape == ref.intercept_.shape
    assert_array_equal(no_intercept.intercept_, 0.0)
    assert_allclose(
        no_intercept.decision_function(X), np.squeeze(X @ no_intercept.coef_.T), rtol=1e-10
    )


@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_mlp_coefs_shapes_and_numpy_forward_pass(data):
    X, y = cancer() if data == "binary" else iris()
    est = IWMLPClassifier(hidden_layer_sizes=(7, 5), max_iter=5, random_state=0).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ref = MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=5, random_state=0).fit(X, y)
    assert [c.shape for c in est.coefs_] == [c.shape for c in ref.coefs_]
    assert [b.shape for b in est.intercepts_] == [b.shape for b in ref.intercepts_]
    scores = np_mlp_forward(est, X)
    decision = est.decision_function(X)
    if data == "binary":
        assert decision.shape == (len(y),)
        assert_allclose(decision, scores[:, 0], rtol=1e-9, atol=1e-12)
        p = expit(scores[:, 0])
        # predict_proba keeps probabilities inside (0, 1): 1 - p >= eps / 2.
        assert_allclose(est.predict_proba(X), np.column_stack([1 - p, p]), rtol=1e-9, atol=2e-16)
    else:
        assert_allclose(decision, scores, rtol=1e-9, atol=1e-12)
        assert_allclose(est.predict_proba(X), softmax(scores, axis=1), rtol=1e-9)
    assert_array_equal(
        est.predict(X),
        ref.classes_[
            np.argmax(
                np.column_stack([-scores[:, 0], scores[:, 0]]) if data == "binary" else scores,
                axis=1,
            )
        ],
    )


# --------------------------------------------------------------------------- L2 / weights
@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_l2_lbfgs_matches_sklearn_logistic_regression(data):
    X, y = cancer() if data == "binary" else iris()
    est = lbfgs_logistic(alpha=1.0).fit(X, y)
    ref = reference_logistic(X, y)
    # Reached: max |coef - coef_sklearn| = 2.0e-5 on breast_cancer, 1.5e-6 on iris.
    assert_allclose(est.coef_, ref.coef_, atol=1e-4, rtol=0)
    assert_allclose(est.intercept_, ref.intercept_, atol=1e-4, rtol=0)
    # alpha is the inverse of C: alpha=10 is LogisticRegression(C=0.1), not C=1.
    strong = lbfgs_logistic(alpha=10.0).fit(X, y)
    ref_strong = LogisticRegression(C=0.1, tol=1e-12, max_iter=10_000).fit(X, y)
    assert_allclose(strong.coef_, ref_strong.coef_, atol=1e-4, rtol=0)
    assert np.abs(strong.coef_ - ref.coef_).max() > 1e-2


def test_integer_sample_weight_equals_repeated_rows():
    X, y = cancer()
    w = np.random.RandomState(0).randint(0, 4, size=len(y))  # 0 drops a row
    weighted = lbfgs_logistic().fit(X, y, sample_weight=w)
    repeated = lbfgs_logistic().fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    assert_allclose(weighted.coef_, repeated.coef_, atol=1e-4, rtol=0)
    assert_allclose(weighted.intercept_, repeated.intercept_, atol=1e-4, rtol=0)
    ref = reference_logistic(X, y, sample_weight=w)
    assert_allclose(weighted.coef_, ref.coef_, atol=1e-4, rtol=0)
    # The weights matter: the unweighted solution is far away.
    assert np.abs(weighted.coef_ - reference_logistic(X, y).coef_).max() > 1e-2


def test_class_weight_balanced_equals_balanced_sample_weight():
    X, y = cancer()
    # Imbalance the classes: keep a third of class 0.
    keep = (y == 1) | (np.arange(len(y)) % 3 == 0)
    X, y = X[keep], y[keep]
    balanced = lbfgs_logistic(class_weight="balanced")
    balanced.fit(X, y)
    sw = compute_sample_weight("balanced", y)
    weighted = lbfgs_logistic().fit(X, y, sample_weight=sw)
    assert_allclose(balanced.coef_, weighted.coef_, atol=1e-6, rtol=0)
    ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000, class_weight="balanced")
    assert_allclose(balanced.coef_, ref.fit(X, y).coef_, atol=1e-4, rtol=0)
    plain = lbfgs_logistic().fit(X, y)
    assert np.abs(balanced.coef_ - plain.coef_).max() > 1e-2


def test_class_weight_dict_multiplies_sample_weight():
    X, y = iris()
    cw = {0: 1.0, 1: 3.0, 2: 0.5}
    est = lbfgs_logistic(class_weight=cw).fit(X, y)
    sw = np.array([cw[c] for c in y])
    ref = lbfgs_logistic().fit(X, y, sample_weight=sw)
    assert_allclose(est.coef_, ref.coef_, atol=1e-6, rtol=0)


# --------------------------------------------------------------------------- multilabel
def test_multilabel_indicator_targets():
    X, Y = make_multilabel_classification(n_samples=150, n_features=8, n_classes=3, random_state=0)
    est = IWMLPClassifier(
        hidden_layer_sizes=(16,), optimizer=Adam(lr=0.01), max_iter=60, random_state=0
    ).fit(X, Y)
    assert_array_equal(est.classes_, [0, 1, 2])
    pred = est.predict(X)
    assert pred.shape == Y.shape
    assert set(np.unique(pred)) <= {0, 1}
    proba = est.predict_proba(X)
    assert proba.shape == (150, 3)
    assert np.all((proba >= 0) & (proba <= 1))
    assert not np.allclose(proba.sum(axis=1), 1.0)  # independent labels, not a simplex
    assert_allclose(proba, expit(est.decision_function(X)), rtol=1e-9)
    assert_array_equal(pred, (proba > 0.5).astype(int))
    subset_accuracy = np.mean(np.all(pred == Y, axis=1))
    assert est.score(X, Y) == pytest.approx(subset_accuracy)
    # Subset accuracy is stricter than the per-label one, and the model learned something.
    assert subset_accuracy < np.mean(pred == Y)
    assert subset_accuracy > 0.4


def test_logistic_regression_rejects_multilabel_targets():
    X, Y = make_multilabel_classification(n_samples=40, n_classes=3, random_state=0)
    with pytest.raises(ValueError):
        IWLogisticRegression(max_iter=2).fit(X, Y)


# --------------------------------------------------------------------------- incremental
def test_partial_fit_requires_classes_on_first_call():
    X, y = small_problem()
    est = IWLogisticRegression()
    with pytest.raises(ValueError, match="classes must be passed"):
        est.partial_fit(X, y)
    assert not hasattr(est, "net_")


def test_partial_fit_counts_epochs_and_decreases_loss():
    X, y = small_problem(n_classes=3)
    est = IWLogisticRegression(optimizer=SGD(lr=0.1), batch_size="full", random_state=0)
    # The first batch lacks class 2: classes fixes the output layer once and for all.
    first = y != 2
    est.partial_fit(X[first], y[first], classes=[0, 1, 2])
    assert_array_equal(est.classes_, [0, 1, 2])
    assert est.coef_.shape == (3, 4)
    assert est.n_iter_ == 1
    losses = []
    for k in range(2, 8):
        est.partial_fit(X, y)
        assert est.n_iter_ == k
        assert len(est.loss_curve_) == k
        losses.append(est.loss_curve_[-1])
    assert est.t_ == first.sum() + 6 * len(y)
    assert np.all(np.diff(losses) < 0)
    with pytest.raises(ValueError, match="not in classes_"):
        est.partial_fit(X, np.where(y == 2, 5, y))


def test_warm_start_continues_from_previous_weights():
    X, y = cancer()
    params = dict(optimizer=SGD(lr=0.05), batch_size="full", random_state=0)
    warm = IWLogisticRegression(warm_start=True, max_iter=5, **params).fit(X, y)
    first_curve = list(warm.loss_curve_)
    coef_after_first = warm.coef_.copy()
    warm.fit(X, y)
    assert warm.n_iter_ == 10
    second_curve = warm.loss_curve_[5:]
    assert len(second_curve) == 5
    # The second fit starts where the first stopped, not at the initial loss ...
    assert second_curve[0] < first_curve[-1]
    assert first_curve[0] - second_curve[0] > 0.5 * (first_curve[0] - first_curve[-1])
    assert not np.allclose(warm.coef_, coef_after_first)
    # ... exactly: full-batch steps at a constant lr, 5 + 5 epochs are one fit of 10.
    straight = IWLogisticRegression(max_iter=10, **params).fit(X, y)
    assert_allclose(warm.loss_curve_, straight.loss_curve_, rtol=1e-10)
    assert_allclose(warm.coef_, straight.coef_, rtol=1e-10, atol=1e-14)

    cold = IWLogisticRegression(warm_start=False, max_iter=5, **params).fit(X, y)
    cold.fit(X, y)
    assert cold.n_iter_ == 5
    assert cold.loss_curve_ == first_curve
    assert_allclose(cold.coef_, coef_after_first, rtol=1e-12)


# --------------------------------------------------------------------------- early stopping
@pytest.mark.parametrize("cls", [IWLogisticRegression, IWMLPClassifier])
def test_early_stopping_records_validation_scores(cls):
    X, y = easy_blobs()
    est = cls(
        optimizer=Adam(lr=0.05),
        early_stopping=True,
        n_iter_no_change=5,
        max_iter=200,
        random_state=0,
    ).fit(X, y)
    assert est.n_iter_ < 200
    assert len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    assert est.best_validation_score_ == 1.0
    assert est.best_loss_ is None
    # 10 % of 300 samples held out: accuracies are multiples of 1/30.
    assert_allclose(
        np.array(est.validation_scores_) * 30,
        np.round(np.array(est.validation_scores_) * 30),
        atol=1e-9,
    )
    # Stopped n_iter_no_change epochs after the first best score (tol is 1e-4).
    first_best = int(np.argmax(est.validation_scores_))
    assert est.n_iter_ == first_best + 1 + 5
    # The restored best epoch can be the first: 30 held-out blobs saturate at accuracy 1.
    assert est.score(X, y) >= 0.9

    # The best epoch's weights are restored: a run of the same seed (same split, same
    # shuffles) stopped by max_iter right at that epoch ends with the same weights.
    short = clone(est).set_params(max_iter=first_best + 1).fit(X, y)
    assert short.validation_scores_ == est.validation_scores_[: first_best + 1]
    assert_allclose(short.decision_function(X), est.decision_function(X), rtol=1e-10)


def test_without_early_stopping_best_loss_is_min_of_curve():
    X, y = small_problem()
    est = IWLogisticRegression(max_iter=10).fit(X, y)
    assert est.validation_scores_ is None
    assert est.best_validation_score_ is None
    assert est.best_loss_ == min(est.loss_curve_)


# --------------------------------------------------------------------------- update_clip
def test_update_clip_bounds_each_coordinate_of_the_update():
    X, y = small_problem(n_classes=3)
    params = dict(hidden_layer_sizes=(10,), batch_size="full", max_iter=1, random_state=5)
    initial = IWMLPClassifier(optimizer=SGD(lr=1e-12), **params).fit(X, y)
    clipped = IWMLPClassifier(optimizer=SGD(lr=5.0), update_clip=1e-3, **params).fit(X, y)
    free = IWMLPClassifier(optimizer=SGD(lr=5.0), **params).fit(X, y)
    moves_clipped = [
        np.abs(a - b).max()
        for a, b in zip(
            clipped.coefs_ + clipped.intercepts_, initial.coefs_ + initial.intercepts_, strict=True
        )
    ]
    moves_free = [
        np.abs(a - b).max()
        for a, b in zip(
            free.coefs_ + free.intercepts_, initial.coefs_ + initial.intercepts_, strict=True
        )
    ]
    assert max(moves_clipped) <= 1e-3 + 1e-9
    # The clip was active: some coordinate moved by exactly the bound ...
    assert max(moves_clipped) == pytest.approx(1e-3, rel=1e-6)
    # ... and without it the same step moves further.
    assert max(moves_free) > 1e-2


def _record_updates(monkeypatch) -> list[float]:
    """Record the global L2 norm of every update the engine's steps make (each
    ``train_step`` as a whole: optimizer, weight decay and clipping)."""
    norms = []
    original = TrainingEngine.train_step

    def recording(self, batch, **fit_params):
        before = [p.detach().clone() for p in self.module_.parameters() if p.requires_grad]
        step = original(self, batch, **fit_params)
        after = [p.detach() for p in self.module_.parameters() if p.requires_grad]
        moves = torch.cat([(a - b).reshape(-1) for a, b in zip(after, before, strict=True)])
        norms.append(float(torch.linalg.vector_norm(moves)))
        return step

    monkeypatch.setattr(TrainingEngine, "train_step", recording)
    return norms


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_clip_norm_bounds_every_update_of_every_optimizer(optimizer, monkeypatch):
    X, y = small_problem(n_classes=3)
    bound = 1e-4
    params = dict(hidden_layer_sizes=(8,), optimizer=optimizer, batch_size=40, random_state=0)
    norms = _record_updates(monkeypatch)
    IWMLPClassifier(max_iter=2, clip_norm=bound, **params).fit(X, y)
    n_steps = len(norms)
    assert n_steps >= 2
    assert max(norms) <= bound * (1 + 1e-9), norms
    # The bound was active: some step was cut to it, and without it the steps move further.
    assert max(norms) == pytest.approx(bound, rel=1e-9)
    IWMLPClassifier(max_iter=1, **params).fit(X, y)
    assert max(norms[n_steps:]) > 2 * bound


def test_clip_norm_bounds_the_lstm_steps(monkeypatch):
    # Pascanu et al.'s setting, recurrent networks: the LSTM's steps through its fused
    # kernel (importance weights, the default) obey the bound as well.
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 6))
    y = (X[:, 0] > 0).astype(int)
    norms = _record_updates(monkeypatch)
    IWLSTMClassifier(hidden_size=4, max_iter=2, clip_norm=1e-4, random_state=0).fit(X, y)
    assert len(norms) == 2 and max(norms) == pytest.approx(1e-4, rel=1e-9)
    assert max(norms) <= 1e-4 * (1 + 1e-9)


@pytest.mark.parametrize("update_clip", [None, 1e-3])
def test_clip_norm_above_every_update_changes_nothing(update_clip):
    X, y = small_problem(n_classes=3)
    params = dict(hidden_layer_sizes=(10,), optimizer=SGD(lr=0.5), update_clip=update_clip)
    params.update(batch_size=30, max_iter=3, random_state=0)
    free = IWMLPClassifier(**params).fit(X, y)
    loose = IWMLPClassifier(clip_norm=1e6, **params).fit(X, y)
    for a, b in zip(free.coefs_ + free.intercepts_, loose.coefs_ + loose.intercepts_, strict=True):
        assert_array_equal(a, b)


def test_update_clip_then_clip_norm_order():
    # The linear model starts at zero, so one full-batch SGD step's update is coef_ itself.
    X, y = small_problem(n_classes=3)
    params = dict(optimizer=SGD(lr=5.0), batch_size="full", max_iter=1)
    free = IWLogisticRegression(**params).fit(X, y)
    update = np.concatenate([free.coef_.ravel(), free.intercept_])
    cut, bound = 0.2, 0.5
    clipped = np.clip(update, -cut, cut)
    assert np.abs(update).max() > cut and np.linalg.norm(clipped) > bound  # both act
    expected = clipped * bound / np.linalg.norm(clipped)
    both = IWLogisticRegression(update_clip=cut, clip_norm=bound, **params).fit(X, y)
    got = np.concatenate([both.coef_.ravel(), both.intercept_])
    assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert np.linalg.norm(got) <= bound * (1 + 1e-12) and np.abs(got).max() <= cut
    # The other order (norm first, then the cut) takes another step.
    scaled = update * bound / np.linalg.norm(update)
    assert not np.allclose(np.clip(scaled, -cut, cut), expected, rtol=1e-3)


def test_update_clip_zero_is_rejected():
    X, y = small_problem()
    with pytest.raises(InvalidParameterError, match="update_clip"):
        IWLogisticRegression(update_clip=0).fit(X, y)


# --------------------------------------------------------------------------- verbose
def test_verbose_prints_one_line_per_epoch(capsys):
    X, y = small_problem()
    est = IWLogisticRegression(max_iter=4, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if re.match(r"^\s*\d+\s", line)]
    assert len(rows) == est.n_iter_ == 4
    assert [int(r.split()[0]) for r in rows] == [1, 2, 3, 4]


def test_verbose_zero_prints_nothing(capsys):
    X, y = small_problem()
    IWLogisticRegression(max_iter=4, verbose=0).fit(X, y)
    IWMLPClassifier(
        hidden_layer_sizes=(4,), max_iter=30, early_stopping=True, n_iter_no_change=2
    ).fit(X, y)
    assert capsys.readouterr().out == ""


# --------------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "params",
    [
        {"max_iter": 0},
        {"batch_size": 0},
        {"device": "tpu"},
        {"alpha": -1},
        {"optimizer": "adamw2"},
        {"activation": "nope"},
        {"lr_schedule": "warmup"},
        {"hidden_layer_sizes": (0,)},
        {"validation_fraction": 1.5},
        {"tol": -1.0},
        {"n_iter_no_change": 0},
        {"dropout": 1.0},
    ],
)
def test_bad_parameters_raise_helpful_value_error(params):
    X, y = small_problem()
    ((name, value),) = params.items()
    message = f"The '{name}' parameter of IWMLPClassifier must be"
    with pytest.raises(InvalidParameterError, match=re.escape(message)) as info:
        IWMLPClassifier(**params).fit(X, y)
    # The message names the offending value.
    assert f"Got {value!r} instead" in str(info.value)


def test_nan_in_X_raises():
    X, y = small_problem()
    X[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        IWLogisticRegression().fit(X, y)


def test_continuous_y_raises_unknown_label_type():
    X, _ = small_problem()
    with pytest.raises(ValueError, match="Unknown label type"):
        IWMLPClassifier().fit(X, X[:, 0])


def test_predict_before_fit_raises_not_fitted():
    X, _ = small_problem()
    for est in (IWLogisticRegression(), IWMLPClassifier()):
        with pytest.raises(NotFittedError):
            est.predict(X)
        with pytest.raises(NotFittedError):
            est.predict_proba(X)


def test_predict_with_other_number_of_features_raises():
    X, y = small_problem()
    est = IWLogisticRegression(max_iter=2).fit(X, y)
    with pytest.raises(
        ValueError, match="X has 3 features, but IWLogisticRegression is expecting 4 features"
    ):
        est.predict(X[:, :3])


# --------------------------------------------------------------------------- dtype
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls", [IWLogisticRegression, IWMLPClassifier])
def test_training_dtype_follows_X(cls, dtype):
    X, y = small_problem(n_classes=3)
    est = cls(max_iter=3, random_state=0).fit(X.astype(dtype), y)
    torch_dtype = torch.float32 if dtype == np.float32 else torch.float64
    assert all(p.dtype == torch_dtype for p in est.net_.module_.parameters())
    assert est.predict_proba(X.astype(dtype)).dtype == dtype
    assert est.decision_function(X.astype(dtype)).dtype == dtype
    weights = est.coef_ if cls is IWLogisticRegression else est.coefs_[0]
    assert weights.dtype == dtype


# --------------------------------------------------------------------------- convergence
def test_convergence_warning_when_max_iter_is_hit():
    X, y = cancer()
    with pytest.warns(ConvergenceWarning, match=r"maximum iterations \(3\)"):
        est = IWLogisticRegression(max_iter=3).fit(X, y)
    assert est.n_iter_ == 3


def test_no_convergence_warning_when_stopped_early():
    X, y = cancer()
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        est = IWLogisticRegression(optimizer="lbfgs", max_iter=100, n_iter_no_change=3).fit(X, y)
    assert est.n_iter_ < 100
    assert not [w for w in record if issubclass(w.category, ConvergenceWarning)]

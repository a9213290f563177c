"""Behaviour of IWLogisticRegression and IWMLPClassifier as scikit-learn classifiers.

Numbers are checked against independent references: numpy transcriptions of the forward
passes and scikit-learn's own estimators (LogisticRegression, SGDClassifier,
MLPClassifier).
"""

from __future__ import annotations

import pickle
import re
import warnings
from functools import cache

import numpy as np
import pandas as pd
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import expit, softmax
from sklearn.base import clone
from sklearn.datasets import (
    load_breast_cancer,
    make_multilabel_classification,
)
from sklearn.exceptions import ConvergenceWarning, NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils._param_validation import InvalidParameterError
from sklearn.utils.class_weight import compute_sample_weight

from sklearn_iw import IWLogisticRegression, IWMLPClassifier
from sklearn_iw.solvers import SGD, Adam
from tests.classification_references import (
    easy_blobs,
    iris,
    np_mlp_forward,
    sgd_with_weights,
    small_problem,
)

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


def cancer():
    X, y = _cancer()
    return X.copy(), y.copy()


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


@pytest.mark.parametrize("data", ["binary", "multiclass"])
def test_modified_huber_proba_matches_sgdclassifier(data):
    X, y = cancer() if data == "binary" else iris()
    est = IWLogisticRegression(
        loss="modified_huber", optimizer=Adam(lr=0.05), max_iter=40, random_state=0
    ).fit(X, y)
    proba = est.predict_proba(X)
    assert proba.shape == (len(y), len(np.unique(y)))
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    sgd = sgd_with_weights(X, y, est.coef_, est.intercept_)
    assert_allclose(est.decision_function(X), sgd.decision_function(X), rtol=1e-10, atol=1e-12)
    assert_allclose(proba, sgd.predict_proba(X), rtol=1e-10, atol=1e-12)
    assert est.score(X, y) > 0.9


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

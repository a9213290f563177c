"""Nested optimizer and schedule parameters on names: set_params, clone, grid search."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV

from sklearn_iw import (
    IWLinearRegression,
    IWLogisticRegression,
    IWLSTMClassifier,
    IWLSTMRegressor,
    IWMLPClassifier,
    IWMLPRegressor,
)
from sklearn_iw.solvers import Adam, Exponential, ImportanceWeights, Plateau

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

ESTIMATOR_CLASSES = (
    IWLogisticRegression,
    IWMLPClassifier,
    IWLSTMClassifier,
    IWLinearRegression,
    IWMLPRegressor,
    IWLSTMRegressor,
)
# What optimizer__C=0.5 on each estimator's default name gives: the name's spec with the
# estimator's own defaults (LSTM p=0.1 without the step check, regressors C=0.1 and
# p=0.1), then C set.
EXPECTED_C = {
    IWLogisticRegression: ImportanceWeights(C=0.5),
    IWMLPClassifier: ImportanceWeights(C=0.5),
    IWLSTMClassifier: ImportanceWeights(p=0.1, C=0.5, sufficient_decrease=0.0),
    IWLinearRegression: ImportanceWeights(C=0.5, p=0.1, loss_cap=None),
    IWMLPRegressor: ImportanceWeights(C=0.5, p=0.1, loss_cap=None),
    IWLSTMRegressor: ImportanceWeights(C=0.5, p=0.1, loss_cap=None, sufficient_decrease=0.0),
}


def _same(a, b) -> bool:
    """Whether two specs are of one class with equal parameters."""
    return type(a) is type(b) and a.get_params() == b.get_params()


# ------------------------------------------------------------------ nested parameters
@pytest.mark.parametrize("cls", ESTIMATOR_CLASSES, ids=lambda cls: cls.__name__)
def test_nested_optimizer_parameter_on_the_default_name(cls):
    est = cls()
    assert est.optimizer == "importance_weights"
    assert est.set_params(optimizer__C=0.5) is est
    assert _same(est.optimizer, EXPECTED_C[cls]), est.optimizer
    assert est.get_params()["optimizer__C"] == 0.5


def test_nested_parameter_keeps_the_estimators_default_of_another_name():
    # The linear models' own Adam step is lr=0.01 (Adam's is 1e-3).
    est = IWLogisticRegression(optimizer="adam").set_params(optimizer__beta1=0.8)
    assert _same(est.optimizer, Adam(lr=0.01, beta1=0.8))


def test_name_and_nested_parameter_in_one_call():
    # As BaseEstimator.set_params: the plain parameter first, then the nested one on it.
    est = IWLogisticRegression().set_params(optimizer="adam", optimizer__lr=0.1)
    assert _same(est.optimizer, Adam(lr=0.1))
    est = IWLSTMClassifier(optimizer="adam").set_params(
        optimizer="importance_weights", optimizer__C=2.0
    )
    assert _same(est.optimizer, ImportanceWeights(p=0.1, C=2.0, sufficient_decrease=0.0))


def test_nested_schedule_parameter_on_names():
    est = IWMLPClassifier(lr_schedule="exponential").set_params(lr_schedule__gamma=0.5)
    assert _same(est.lr_schedule, Exponential(gamma=0.5))
    # 'auto' resolves to the optimizer's own schedule: 'plateau' for 'sgd'.
    est = IWMLPClassifier(optimizer="sgd").set_params(lr_schedule__patience=2)
    assert _same(est.lr_schedule, Plateau(patience=2))


def test_unknown_nested_name_lists_the_valid_ones():
    est = IWLSTMClassifier()
    with pytest.raises(ValueError, match="Invalid parameter 'no_such'") as info:
        est.set_params(optimizer__no_such=1.0)
    for name in ImportanceWeights().get_params():
        assert repr(name) in str(info.value)
    # The estimator is left as it was.
    assert est.optimizer == "importance_weights"


@pytest.mark.parametrize(
    ("param", "key", "fix"),
    [
        ("optimizer", "C", "optimizer=ImportanceWeights(C=...)"),
        ("optimizer", "momentum", "optimizer=Momentum(momentum=...)"),
        ("lr_schedule", "gamma", "lr_schedule=Exponential(gamma=...)"),
    ],
)
def test_nested_parameter_on_a_name_that_cannot_resolve_names_the_fix(param, key, fix):
    est = IWMLPClassifier(**{param: "no_such_rule"})
    with pytest.raises(ValueError, match="pass a spec object") as info:
        est.set_params(**{f"{param}__{key}": 1.0})
    assert "'no_such_rule'" in str(info.value)
    assert fix in str(info.value)


def test_get_params_clone_and_set_params_round_trip():
    est = IWLSTMClassifier(hidden_size=4).set_params(optimizer__C=0.5)
    deep = est.get_params(deep=True)
    assert deep["optimizer__C"] == 0.5 and deep["optimizer__p"] == 0.1
    copy = clone(est)
    assert copy.optimizer is not est.optimizer
    assert _same(copy.optimizer, est.optimizer)
    assert copy.get_params(deep=False).keys() == est.get_params(deep=False).keys()
    # Every deep parameter set on a fresh estimator (whose optimizer is a name) gives
    # the same parameters back.
    fresh = IWLSTMClassifier().set_params(**deep)
    assert _same(fresh.optimizer, est.optimizer)
    assert fresh.get_params(deep=True).keys() == deep.keys()
    # A plain name stays a name: __init__ and get_params are untouched.
    assert IWLSTMClassifier().get_params()["optimizer"] == "importance_weights"
    assert "optimizer__C" not in IWLSTMClassifier().get_params(deep=True)


def test_grid_search_over_a_nested_optimizer_parameter_on_the_default_name():
    X, y = make_classification(60, 4, random_state=0)
    base = IWMLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0)
    search = GridSearchCV(base, {"optimizer__C": [0.1, 1.0]}, cv=2).fit(X, y)
    assert [p["optimizer__C"] for p in search.cv_results_["params"]] == [0.1, 1.0]
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert _same(
        search.best_estimator_.optimizer, ImportanceWeights(C=search.best_params_["optimizer__C"])
    )
    # The searched estimator is not changed.
    assert base.optimizer == "importance_weights"

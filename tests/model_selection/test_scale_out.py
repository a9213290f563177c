"""Searches run on a dask cluster through joblib give the results of a sequential run.

The estimators are plain scikit-learn estimators, so ``GridSearchCV`` and
``LOOBoundSearchCV`` distribute their fits through joblib; under
``joblib.parallel_backend('dask')`` a ``dask.distributed`` cluster runs them. The cluster
here is local and in-process (no network, no worker processes to start), which exercises
the joblib-to-dask dispatch and the scheduling of a remote one.
"""

from __future__ import annotations

import joblib
import numpy as np
import pytest
from distributed import Client, LocalCluster, get_task_stream
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWLogisticRegression, IWMLPClassifier, LOOBoundSearchCV
from sklearn_iw.solvers import SGD, ImportanceWeights


@pytest.fixture(scope="module")
def client():
    """A local in-process dask cluster: one worker with two threads, no dashboard.

    Two threads, so that joblib's dask backend dispatches (with one core in the cluster
    it runs the tasks itself, sequentially) and fits run concurrently.
    """
    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=2,
            processes=False,
            dashboard_address=None,
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    return X[:150], y[:150]


def _estimator(model=IWLogisticRegression, **params):
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("clf", model(max_iter=8, batch_size=50, random_state=0, **params)),
        ]
    )


def _ran_on_dask(tasks):
    assert tasks.data, "no task ran on the dask cluster"


def _same_results(sequential, distributed, X):
    """Every score, rank and the selected model agree exactly."""
    for key in ("mean_test_score", "rank_test_score"):
        np.testing.assert_array_equal(
            distributed.cv_results_[key], sequential.cv_results_[key], err_msg=key
        )
    assert distributed.cv_results_["params"] == sequential.cv_results_["params"]
    assert distributed.best_params_ == sequential.best_params_
    np.testing.assert_array_equal(
        distributed.best_estimator_.decision_function(X),
        sequential.best_estimator_.decision_function(X),
    )


def test_grid_search_on_dask_matches_sequential(client, data):
    X, y = data
    estimator = _estimator(optimizer=ImportanceWeights())
    grid = {"clf__optimizer__C": [0.1, 1.0], "clf__optimizer__p": [0.01, 0.05]}
    sequential = GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y)
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        distributed = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
    _ran_on_dask(tasks)
    _same_results(sequential, distributed, X)


def test_loo_bound_search_on_dask_matches_sequential(client, data):
    X, y = data
    estimator = _estimator(optimizer=ImportanceWeights())
    grid = {"clf__optimizer__C": [0.1, 1.0], "clf__optimizer__p": [0.005, 0.02]}
    sequential = LOOBoundSearchCV(estimator, grid, n_jobs=1).fit(X, y)
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        distributed = LOOBoundSearchCV(estimator, grid, n_jobs=-1).fit(X, y)
    _ran_on_dask(tasks)
    for key in ("loo_bound", "n_support", "train_score"):
        np.testing.assert_array_equal(
            distributed.cv_results_[key], sequential.cv_results_[key], err_msg=key
        )
    _same_results(sequential, distributed, X)
    assert distributed.best_loo_bound_ == sequential.best_loo_bound_


def test_threaded_fits_with_random_initialisation_and_dropout_match_sequential(client, data):
    # Two fits at a time in the worker's threads: random initial weights, shuffled batches
    # and dropout masks must come from per-fit random streams.
    X, y = data
    estimator = _estimator(IWMLPClassifier, hidden_layer_sizes=(8,), dropout=0.2, optimizer=SGD())
    grid = {"clf__optimizer__lr": [0.05, 0.1, 0.2], "clf__random_state": [0, 1]}
    sequential = GridSearchCV(estimator, grid, cv=3, n_jobs=1).fit(X, y)
    with get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
        distributed = GridSearchCV(estimator, grid, cv=3, n_jobs=-1).fit(X, y)
    _ran_on_dask(tasks)
    _same_results(sequential, distributed, X)

"""LOOBoundSearchCV, LOOBoundRandomizedSearchCV and loo_bound_scorer."""

from __future__ import annotations

import numbers
import warnings

import numpy as np
import pytest
from scipy.stats import loguniform
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_iris
from sklearn.exceptions import FitFailedWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, ParameterGrid, ParameterSampler
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import (
    IWLogisticRegression,
    IWMLPClassifier,
    LOOBoundRandomizedSearchCV,
    LOOBoundSearchCV,
    loo_bound_scorer,
)
from sklearn_iw.model_selection import leave_one_out, loo_estimate_scorer
from sklearn_iw.model_selection._search import _rank
from sklearn_iw.solvers import ImportanceWeights

# Iris (150 samples, one full batch): bounds differ across this grid, with one exact tie.
GRID = {"optimizer__p": [0.02, 0.05, 0.1], "optimizer__C": [0.1, 1.0]}

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.fixture(scope="module")
def data():
    return load_iris(return_X_y=True)


def iw_logistic(max_iter=10, **kwargs):
    return IWLogisticRegression(
        optimizer=ImportanceWeights(), max_iter=max_iter, random_state=0, **kwargs
    )


def manual_loop(estimator, grid, X, y):
    """What the search should find: one clone/fit per candidate of ParameterGrid."""
    bounds, train_scores, models = [], [], []
    for params in ParameterGrid(grid):
        model = clone(estimator).set_params(**params).fit(X, y)
        final = model[-1] if isinstance(model, Pipeline) else model
        bounds.append(final.loo_bound_)
        train_scores.append(model.score(X, y))
        models.append(model)
    return np.array(bounds), np.array(train_scores), models


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    search = LOOBoundSearchCV(iw_logistic(), GRID, criterion="bound").fit(X, y)
    return search, manual_loop(iw_logistic(), GRID, X, y)


def test_cv_results_equal_a_manual_loop(fitted):
    search, (bounds, train_scores, _) = fitted
    results = search.cv_results_
    assert search.n_candidates_ == len(bounds) == 6
    assert results["params"] == list(ParameterGrid(GRID))
    np.testing.assert_array_equal(results["loo_bound"], bounds)
    np.testing.assert_array_equal(results["train_score"], train_scores)
    np.testing.assert_array_equal(results["mean_test_score"], 1 - bounds)
    for name in GRID:
        column = results[f"param_{name}"]
        assert isinstance(column, np.ma.MaskedArray) and not column.mask.any()
        assert list(column) == [params[name] for params in ParameterGrid(GRID)]
    assert np.all(results["mean_fit_time"] > 0)
    assert np.all((results["n_support"] >= 0) & (results["n_support"] <= 150))
    assert len(np.unique(bounds)) > 2, "the grid should discriminate"


def test_search_picks_the_smallest_bound(fitted, data):
    X, y = data
    search, (bounds, train_scores, models) = fitted
    order = np.lexsort((np.arange(len(bounds)), -train_scores, bounds))
    assert search.best_index_ == order[0]
    assert bounds[search.best_index_] == bounds.min()
    assert search.best_params_ == list(ParameterGrid(GRID))[order[0]]
    assert search.best_score_ == pytest.approx(1 - bounds.min())
    assert search.best_loo_bound_ == bounds.min()
    assert search.cv_results_["rank_test_score"][search.best_index_] == 1
    assert sorted(search.cv_results_["rank_test_score"])[-1] <= len(bounds)
    # The kept model is the candidate's fit on all the data: no second fit.
    best = models[search.best_index_]
    assert search.refit_time_ == 0.0
    assert search.best_estimator_.loo_bound_ == bounds.min()
    np.testing.assert_array_equal(search.predict(X), best.predict(X))
    np.testing.assert_allclose(search.predict_proba(X), best.predict_proba(X))
    np.testing.assert_allclose(search.decision_function(X), best.decision_function(X))
    assert search.score(X, y) == best.score(X, y)
    np.testing.assert_array_equal(search.classes_, [0, 1, 2])
    assert search.n_features_in_ == 4
    assert is_classifier(search)


def test_ties_are_broken_by_train_score_then_order():
    test = np.array([0.8, 0.9, 0.9, 0.9, np.nan, 0.7])
    train = np.array([1.0, 0.8, 0.9, 0.9, 1.0, np.nan])
    np.testing.assert_array_equal(_rank(test, train), [4, 3, 1, 1, 6, 5])


def test_identical_candidates_share_rank_one_and_the_first_wins(data):
    X, y = data
    grid = {"optimizer__p": [0.05, 0.05]}
    search = LOOBoundSearchCV(iw_logistic(max_iter=3), grid).fit(X, y)
    np.testing.assert_array_equal(search.cv_results_["rank_test_score"], [1, 1])
    assert search.best_index_ == 0


def test_pipeline_with_step_prefixed_names(data):
    X, y = data
    pipe = Pipeline([("scale", StandardScaler()), ("clf", iw_logistic(max_iter=5))])
    grid = {"clf__optimizer__C": [0.1, 1.0], "clf__optimizer__p": [0.02, 0.1]}
    search = LOOBoundSearchCV(pipe, grid).fit(X, y)
    bounds, train_scores, _ = manual_loop(pipe, grid, X, y)
    np.testing.assert_array_equal(search.cv_results_["loo_bound"], bounds)
    np.testing.assert_array_equal(search.cv_results_["train_score"], train_scores)
    assert isinstance(search.best_estimator_, Pipeline)
    assert search.best_estimator_[-1].loo_bound_ == bounds[search.best_index_]
    assert set(search.best_params_) == set(grid)
    for value in (0.1, 1.0):
        assert value in search.cv_results_["param_clf__optimizer__C"]


def test_n_jobs_2_gives_the_results_of_n_jobs_1(data):
    X, y = data
    grid = {"optimizer__p": [0.02, 0.05, 0.1], "optimizer__C": [0.1]}
    one = LOOBoundSearchCV(iw_logistic(max_iter=5), grid, n_jobs=1).fit(X, y)
    two = LOOBoundSearchCV(iw_logistic(max_iter=5), grid, n_jobs=2).fit(X, y)
    for key in ("loo_bound", "train_score", "rank_test_score", "n_support"):
        np.testing.assert_array_equal(one.cv_results_[key], two.cv_results_[key])
    assert one.cv_results_["params"] == two.cv_results_["params"]
    assert one.best_index_ == two.best_index_
    # The best model comes back from the worker process, fitted.
    np.testing.assert_array_equal(one.predict(X), two.predict(X))


def test_dask_backend_distributes_the_candidates(data):
    distributed = pytest.importorskip("distributed")
    from joblib import parallel_backend

    X, y = data
    grid = {"optimizer__p": [0.02, 0.1]}
    expected = LOOBoundSearchCV(iw_logistic(max_iter=3), grid).fit(X, y)
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ):
        with parallel_backend("dask"):
            search = LOOBoundSearchCV(iw_logistic(max_iter=3), grid).fit(X, y)
    np.testing.assert_array_equal(
        search.cv_results_["loo_bound"], expected.cv_results_["loo_bound"]
    )
    assert search.best_index_ == expected.best_index_


def test_randomized_search_is_reproducible_and_samples_as_parameter_sampler(data):
    X, y = data
    distributions = {"optimizer__p": loguniform(0.01, 0.1), "optimizer__C": [0.1, 1.0]}

    def search():
        return LOOBoundRandomizedSearchCV(
            iw_logistic(max_iter=3), distributions, n_iter=3, random_state=0
        ).fit(X, y)

    first, second = search(), search()
    expected = list(ParameterSampler(distributions, 3, random_state=0))
    assert first.cv_results_["params"] == second.cv_results_["params"] == expected
    np.testing.assert_array_equal(first.cv_results_["loo_bound"], second.cv_results_["loo_bound"])
    bounds, _, _ = manual_loop(
        iw_logistic(max_iter=3), [{k: [v] for k, v in expected[0].items()}], X, y
    )
    assert first.cv_results_["loo_bound"][0] == bounds[0]
    assert first.best_params_ == second.best_params_
    assert first.n_candidates_ == 3


def test_refit_false_behaves_as_scikit_learn(data):
    X, y = data
    grid = {"optimizer__p": [0.02, 0.1]}
    search = LOOBoundSearchCV(iw_logistic(max_iter=3), grid, refit=False).fit(X, y)
    reference = GridSearchCV(LogisticRegression(), {"C": [1.0]}, cv=2, refit=False).fit(X, y)
    for fitted in (search, reference):
        assert not hasattr(fitted, "best_estimator_")
        assert not hasattr(fitted, "predict")
        assert not hasattr(fitted, "predict_proba")
        assert isinstance(fitted.best_index_, numbers.Integral)
        assert isinstance(fitted.best_params_, dict)
        assert np.isfinite(fitted.best_score_)
    with pytest.raises(AttributeError) as info:
        search.predict(X)
    assert "refit=False" in str(info.value.__cause__)
    with pytest.raises(AttributeError, match="refit=False"):
        search.classes_  # noqa: B018
    with pytest.raises(AttributeError, match="refit=False"):
        search.score(X, y)


@pytest.mark.parametrize(
    "grid, match",
    [
        ([], "No fits were performed"),
        ({"optimizer__C": []}, "need to be a non-empty sequence"),
        ({"optimizer__C": 1.0}, "needs to be a list or a numpy array"),
        ({"optimizer__C": "abc"}, "needs to be a list or a numpy array"),
        ({"no_such_parameter": [1]}, "Invalid parameter 'no_such_parameter'"),
        ("not a grid", "must be an instance of 'dict' or an instance of 'list'"),
    ],
)
def test_bad_grids_fail_as_in_grid_search_cv(data, grid, match):
    X, y = data
    estimator = iw_logistic(max_iter=2)
    with pytest.raises(Exception, match=match) as ours:
        LOOBoundSearchCV(estimator, grid).fit(X, y)
    with pytest.raises(Exception, match=match) as theirs:
        GridSearchCV(estimator, grid, cv=2).fit(X, y)
    assert type(ours.value) is type(theirs.value)


def test_bad_search_parameters_are_validated(data):
    X, y = data
    with pytest.raises(ValueError, match="n_iter"):
        LOOBoundRandomizedSearchCV(iw_logistic(), {"optimizer__p": [0.1]}, n_iter=0).fit(X, y)
    with pytest.raises(ValueError, match="error_score"):
        LOOBoundSearchCV(iw_logistic(), GRID, error_score="warn").fit(X, y)


def test_nan_bound_is_a_clear_error(data):
    X, y = data
    grid = {"optimizer": [ImportanceWeights(p=0.05), "adam"]}
    with pytest.raises(ValueError, match=r"optimizer='adam'.*not 'importance_weights'"):
        LOOBoundSearchCV(iw_logistic(max_iter=2), grid).fit(X, y)
    mlp = IWMLPClassifier((4,), dropout=0.5, max_iter=2, random_state=0)
    with pytest.raises(ValueError, match=r"candidate 1/1 \(\(default parameters\)\).*dropout"):
        LOOBoundSearchCV(mlp, {}).fit(X, y)
    with pytest.raises(ValueError, match="LogisticRegression has no loo_estimate_"):
        LOOBoundSearchCV(LogisticRegression(), {"C": [1.0]}).fit(X, y)
    with pytest.raises(ValueError, match="LogisticRegression has no loo_bound_"):
        LOOBoundSearchCV(LogisticRegression(), {"C": [1.0]}, criterion="bound").fit(X, y)


def test_failed_fits_follow_error_score(data):
    X, y = data
    grid = {"max_iter": [3, -1]}
    with pytest.warns(FitFailedWarning, match="1 fits failed out of a total of 2"):
        search = LOOBoundSearchCV(iw_logistic(), grid).fit(X, y)
    assert np.isnan(search.cv_results_["loo_bound"][1])
    assert np.isnan(search.cv_results_["mean_test_score"][1])
    np.testing.assert_array_equal(search.cv_results_["rank_test_score"], [1, 2])
    assert search.best_index_ == 0
    with pytest.warns(FitFailedWarning):
        search = LOOBoundSearchCV(iw_logistic(), grid, error_score=0.0).fit(X, y)
    assert search.cv_results_["mean_test_score"][1] == 0.0
    with pytest.raises(ValueError, match="max_iter"):
        LOOBoundSearchCV(iw_logistic(), grid, error_score="raise").fit(X, y)
    with pytest.raises(ValueError, match="All the 1 fits failed"):
        LOOBoundSearchCV(iw_logistic(), {"max_iter": [-1]}).fit(X, y)


def test_fit_params_and_verbose(data, capsys):
    X, y = data
    weight = np.where(y == 0, 2.0, 1.0)
    search = LOOBoundSearchCV(
        iw_logistic(max_iter=3), {"optimizer__p": [0.05]}, verbose=2, error_score="raise"
    )
    search.fit(X, y, sample_weight=weight)
    manual = iw_logistic(max_iter=3).set_params(optimizer__p=0.05).fit(X, y, sample_weight=weight)
    assert search.best_loo_bound_ == manual.loo_bound_
    assert search.cv_results_["mean_test_score"].dtype == np.float64
    out = capsys.readouterr().out
    assert "Fitting 1 model for each of 1 candidates, totalling 1 fits" in out
    assert "[LOO 1/1] END optimizer__p=0.05; loo_estimate=" in out


def test_scorer_in_grid_search_cv(data):
    X, y = data
    n = len(y)
    train, test = np.arange(0, n, 2), np.arange(1, n, 2)
    grid = {"optimizer__p": [0.02, 0.1]}
    search = GridSearchCV(
        iw_logistic(max_iter=5), grid, scoring=loo_bound_scorer, cv=[(train, test)]
    )
    search.fit(X, y)
    for index, params in enumerate(ParameterGrid(grid)):
        model = iw_logistic(max_iter=5).set_params(**params).fit(X[train], y[train])
        assert search.cv_results_["mean_test_score"][index] == 1 - model.loo_bound_

    scoring = {"loo": loo_bound_scorer, "accuracy": "accuracy"}
    multi = GridSearchCV(
        iw_logistic(max_iter=5), grid, scoring=scoring, refit="loo", cv=[(train, test)]
    ).fit(X, y)
    np.testing.assert_array_equal(
        multi.cv_results_["mean_test_loo"], search.cv_results_["mean_test_score"]
    )
    assert np.all(multi.cv_results_["mean_test_accuracy"] > 0.5)


def test_scorer_reads_pipelines_and_refuses_other_estimators(data):
    X, y = data
    pipe = Pipeline([("scale", StandardScaler()), ("clf", iw_logistic(max_iter=3))]).fit(X, y)
    assert loo_bound_scorer(pipe, X, y) == 1 - pipe[-1].loo_bound_
    assert loo_bound_scorer(pipe) == loo_bound_scorer(pipe, X[:5], y[:5])
    adam = IWLogisticRegression(optimizer="adam", max_iter=2, random_state=0).fit(X, y)
    with pytest.warns(UserWarning, match="not 'importance_weights'"):
        assert np.isnan(loo_bound_scorer(adam, X, y))
    with pytest.raises(TypeError, match="LogisticRegression has no loo_bound_"):
        loo_bound_scorer(LogisticRegression().fit(X, y), X, y)


def test_unfitted_search_delegation_checks(data):
    search = LOOBoundSearchCV(iw_logistic(), GRID)
    assert hasattr(search, "predict") and hasattr(search, "decision_function")
    assert not hasattr(search, "n_features_in_")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not hasattr(search, "transform")


def test_criterion_estimate_ranks_by_the_estimate(data):
    X, y = data
    search = LOOBoundSearchCV(iw_logistic(), GRID).fit(X, y)
    models = [clone(iw_logistic()).set_params(**p).fit(X, y) for p in ParameterGrid(GRID)]
    estimates = np.array([m.loo_estimate_ for m in models])
    results = search.cv_results_
    np.testing.assert_array_equal(results["loo_estimate"], estimates)
    np.testing.assert_array_equal(results["loo_bound"], [m.loo_bound_ for m in models])
    np.testing.assert_array_equal(results["mean_test_score"], 1 - estimates)
    assert np.isnan(results["loo_replay"]).all() and "replay_cost_fraction" not in results
    assert estimates[search.best_index_] == estimates.min()
    assert search.best_score_ == 1 - estimates.min()


def test_criterion_replay_ranks_by_the_exact_leave_one_out_error(data):
    X, y = data
    X, y = X[::3], y[::3]  # 50 samples, one full batch
    grid = {"optimizer__p": [0.02, 0.1]}
    search = LOOBoundSearchCV(iw_logistic(max_iter=5), grid, criterion="replay").fit(X, y)
    results = search.cv_results_
    for index, params in enumerate(ParameterGrid(grid)):
        replay = leave_one_out(iw_logistic(max_iter=5).set_params(**params), X, y)
        assert results["loo_replay"][index] == replay.error
        assert results["replay_cost_fraction"][index] == replay.cost_fraction
        assert results["mean_test_score"][index] == 1 - replay.error
    best = np.argmin(results["loo_replay"])
    assert search.best_index_ == best or results["loo_replay"][search.best_index_] == min(
        results["loo_replay"]
    )
    # The kept model is the replay's fit on all the data.
    model = iw_logistic(max_iter=5).set_params(**search.best_params_).fit(X, y)
    np.testing.assert_array_equal(search.decision_function(X), model.decision_function(X))


def test_estimate_scorer(data):
    X, y = data
    clf = iw_logistic(max_iter=5).fit(X, y)
    assert loo_estimate_scorer(clf, X, y) == 1 - clf.loo_estimate_
    with pytest.raises(TypeError, match="LogisticRegression has no loo_estimate_"):
        loo_estimate_scorer(LogisticRegression().fit(X, y), X, y)


def test_a_candidate_without_estimate_is_ranked_by_its_replay(data):
    """criterion='estimate': where a candidate's estimate is NaN but the lemma holds (the
    hinge loss has no curvature), its exact replay ranks it instead of an error."""
    X, y = data
    X = StandardScaler().fit_transform(X)
    grid = {"loss": ["log_loss", "hinge"]}
    search = LOOBoundSearchCV(iw_logistic(max_iter=5), grid).fit(X, y)
    results = search.cv_results_
    assert np.isfinite(results["loo_estimate"][0]) and np.isnan(results["loo_replay"][0])
    assert np.isnan(results["loo_estimate"][1])
    exact = leave_one_out(iw_logistic(max_iter=5, loss="hinge"), X, y).error
    assert results["loo_replay"][1] == exact
    expected = [1.0 - results["loo_estimate"][0], 1.0 - exact]
    np.testing.assert_array_equal(results["mean_test_score"], expected)

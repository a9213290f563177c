"""LOOCurveDisplay: the drawn data are the search's cv_results_ and the estimator's
per-epoch records."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV

from sklearn_iw import IWLogisticRegression, LOOBoundSearchCV
from sklearn_iw.model_selection import LOOCurveDisplay
from sklearn_iw.solvers import ImportanceWeights

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

# Full batches and a fixed number of epochs: few samples become active, so the replays
# of criterion='replay' stay cheap.
GRID = {"optimizer__p": [0.02, 0.005, 0.1]}


def iw_logistic(max_iter=20):
    return IWLogisticRegression(
        optimizer=ImportanceWeights(),
        batch_size="full",
        max_iter=max_iter,
        n_iter_no_change=max_iter,
        random_state=0,
    )


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=80, n_features=5, random_state=0)
    return X[:60], y[:60], X[60:], y[60:]


@pytest.fixture(scope="module")
def search(data):
    X, y, _, _ = data
    return LOOBoundSearchCV(iw_logistic(), GRID).fit(X, y)


def drawn(display, name):
    line = display.lines_[name]
    return np.asarray(line.get_xdata(), dtype=float), np.asarray(line.get_ydata(), dtype=float)


def test_from_search_draws_cv_results_against_the_sorted_parameter(search):
    display = LOOCurveDisplay.from_search(search)
    results = search.cv_results_
    order = np.argsort(GRID["optimizer__p"])
    # criterion='estimate' computed no replay here: that curve is left out.
    assert np.isnan(results["loo_replay"]).all()
    assert list(display.lines_) == ["loo_bound", "loo_estimate"]
    for name in display.lines_:
        x, y = drawn(display, name)
        np.testing.assert_array_equal(x, np.sort(GRID["optimizer__p"]))
        np.testing.assert_array_equal(y, results[name][order])
    assert display.ax_.get_xscale() == "log"  # 0.005 to 0.1
    assert display.ax_.get_xlabel() == "optimizer__p"
    assert display.figure_ is display.ax_.figure
    labels = [text.get_text() for text in display.ax_.get_legend().get_texts()]
    assert labels == ["LOO bound", "LOO estimate"]


def test_from_search_draws_the_replay_and_the_held_out_error(data):
    X, y, X_test, y_test = data
    grid = {"optimizer__C": [0.1, 1.0]}
    search = LOOBoundSearchCV(iw_logistic(max_iter=5), grid, criterion="replay").fit(X, y)
    display = LOOCurveDisplay.from_search(search, X=X, y=y, X_test=X_test, y_test=y_test)
    assert list(display.lines_) == ["loo_bound", "loo_estimate", "loo_replay", "held_out_error"]
    np.testing.assert_array_equal(drawn(display, "loo_replay")[1], search.cv_results_["loo_replay"])
    held_out = [
        1 - clone(search.estimator).set_params(**params).fit(X, y).score(X_test, y_test)
        for params in search.cv_results_["params"]
    ]
    x, errors = drawn(display, "held_out_error")
    np.testing.assert_array_equal(x, grid["optimizer__C"])
    np.testing.assert_allclose(errors, held_out)
    assert display.ax_.get_xscale() == "linear"  # a factor 10 only


def test_replay_computed_for_some_candidates_leaves_gaps(search):
    partial = copy.copy(search)
    partial.cv_results_ = {**search.cv_results_, "loo_replay": np.array([0.1, np.nan, 0.2])}
    display = LOOCurveDisplay.from_search(partial, quantities=("loo_replay",))
    # Sorted by p (0.005, 0.02, 0.1): the candidate without a replay comes first.
    np.testing.assert_array_equal(drawn(display, "loo_replay")[1], [np.nan, 0.1, 0.2])
    assert display.lines_["loo_replay"].get_marker() == "o"


def test_plot_reuses_the_given_axes(search):
    _, ax = plt.subplots()
    display = LOOCurveDisplay.from_search(search, ax=ax, line_kw={"linewidth": 3})
    assert display.ax_ is ax and display.figure_ is ax.figure
    assert all(line.get_linewidth() == 3 for line in display.lines_.values())
    assert len(ax.get_lines()) == 2
    _, other = plt.subplots()
    display.plot(ax=other, line_kw={"c": "k"})  # an alias of the default colour
    assert display.ax_ is other and len(other.get_lines()) == 2
    assert all(line.get_color() == "k" for line in display.lines_.values())


def test_several_varying_parameters_need_param_name(data):
    X, y, _, _ = data
    grid = {"optimizer__p": [0.005, 0.1], "optimizer__C": [0.1, 1.0]}
    search = LOOBoundSearchCV(iw_logistic(max_iter=5), grid).fit(X, y)
    with pytest.raises(ValueError, match=r"2 parameters vary .* pass param_name"):
        LOOCurveDisplay.from_search(search)
    with pytest.raises(ValueError, match="not a parameter"):
        LOOCurveDisplay.from_search(search, param_name="alpha")
    # The slice through the best candidate: its C, every p.
    display = LOOCurveDisplay.from_search(search, param_name="optimizer__p")
    results = search.cv_results_
    best_c = search.best_params_["optimizer__C"]
    rows = [i for i, params in enumerate(results["params"]) if params["optimizer__C"] == best_c]
    x, y = drawn(display, "loo_estimate")
    np.testing.assert_array_equal(x, [0.005, 0.1])
    np.testing.assert_array_equal(y, results["loo_estimate"][rows])


def test_from_search_rejects_unfitted_and_foreign_searches_and_partial_data(search, data):
    with pytest.raises(NotFittedError):
        LOOCurveDisplay.from_search(LOOBoundSearchCV(iw_logistic(), GRID))
    with pytest.raises(TypeError, match="LOOBoundSearchCV"):
        LOOCurveDisplay.from_search(GridSearchCV(iw_logistic(), GRID))
    _, _, X_test, y_test = data
    with pytest.raises(ValueError, match="pass all four"):
        LOOCurveDisplay.from_search(search, X_test=X_test, y_test=y_test)
    with pytest.raises(ValueError, match="Unknown quantities"):
        LOOCurveDisplay.from_search(search, quantities=("train_score",))


@pytest.mark.parametrize(
    "x, scale",
    [
        ([0.01, 0.1, 1.0], "log"),
        ([1, 5, 10], "linear"),  # a factor 10 exactly
        ([-1.0, 0.0, 100.0], "linear"),
        ([(16,), (16, 16)], "categorical"),
        (["relu", "tanh"], "categorical"),
        ([True, False], "categorical"),
    ],
)
def test_x_scale_is_inferred(x, scale):
    display = LOOCurveDisplay(x=x, curves={"loo_bound": [0.5] * len(x)}, x_label="h").plot()
    xdata = drawn(display, "loo_bound")[0]
    if scale == "categorical":
        assert display.ax_.get_xscale() == "linear"
        np.testing.assert_array_equal(xdata, np.arange(len(x)))
        labels = [tick.get_text() for tick in display.ax_.get_xticklabels()]
        assert labels == [str(value) for value in x]
    else:
        assert display.ax_.get_xscale() == scale
        np.testing.assert_array_equal(xdata, x)


def test_from_estimator_draws_the_per_epoch_records(data):
    X, y, _, _ = data
    clf = iw_logistic().fit(X, y)
    display = LOOCurveDisplay.from_estimator(clf)
    epochs = np.arange(1, clf.n_iter_ + 1)
    assert list(display.lines_) == ["loo_bound", "loo_estimate", "train_loss"]
    x, bound = drawn(display, "loo_bound")
    np.testing.assert_array_equal(x, epochs)
    np.testing.assert_array_equal(bound, clf.loo_bound_curve_)
    np.testing.assert_array_equal(drawn(display, "train_loss")[1], clf.loss_curve_)
    # The estimate belongs to the final model alone: one point, at the last epoch.
    estimate = drawn(display, "loo_estimate")[1]
    assert np.isnan(estimate[:-1]).all() and estimate[-1] == clf.loo_estimate_
    assert display.ax_.get_xscale() == "linear" and display.ax_.get_xlabel() == "epoch"


def test_from_estimator_draws_no_bound_where_it_does_not_hold(data):
    X, y, _, _ = data
    clf = iw_logistic().set_params(early_stopping=True, validation_fraction=0.25).fit(X, y)
    assert clf.loo_reason_["bound"] is not None
    display = LOOCurveDisplay.from_estimator(clf)
    assert list(display.lines_) == ["train_loss", "validation_score"]
    np.testing.assert_array_equal(drawn(display, "validation_score")[1], clf.validation_scores_)
    with pytest.raises(NotFittedError):
        LOOCurveDisplay.from_estimator(iw_logistic())

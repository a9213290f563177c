"""sklearn-iw: scikit-learn compatible neural classifiers and regressors trained by
importance weights."""

from .estimators import (
    IWLinearRegression,
    IWLogisticRegression,
    IWLSTMClassifier,
    IWLSTMRegressor,
    IWMLPClassifier,
    IWMLPRegressor,
)
from .model_selection import (
    LOOBoundRandomizedSearchCV,
    LOOBoundSearchCV,
    loo_bound_scorer,
    loo_estimate_scorer,
)

__version__ = "0.1.0"

__all__ = [
    "IWLSTMClassifier",
    "IWLSTMRegressor",
    "IWLinearRegression",
    "IWLogisticRegression",
    "IWMLPClassifier",
    "IWMLPRegressor",
    "LOOBoundRandomizedSearchCV",
    "LOOBoundSearchCV",
    "loo_bound_scorer",
    "loo_estimate_scorer",
    "__version__",
]

"""sklearn-iw: scikit-learn compatible neural classifiers trained by importance weights."""

from .estimators import IWLogisticRegression, IWLSTMClassifier, IWMLPClassifier
from .model_selection import (
    LOOBoundRandomizedSearchCV,
    LOOBoundSearchCV,
    loo_bound_scorer,
    loo_estimate_scorer,
)

__version__ = "0.1.0"

__all__ = [
    "IWLSTMClassifier",
    "IWLogisticRegression",
    "IWMLPClassifier",
    "LOOBoundRandomizedSearchCV",
    "LOOBoundSearchCV",
    "loo_bound_scorer",
    "loo_estimate_scorer",
    "__version__",
]

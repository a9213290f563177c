"""scikit-learn estimators of the package."""

from .linear import IWLinearRegression, IWLogisticRegression
from .lstm import IWLSTMClassifier, IWLSTMRegressor
from .mlp import IWMLPClassifier, IWMLPRegressor

__all__ = [
    "IWLSTMClassifier",
    "IWLSTMRegressor",
    "IWLinearRegression",
    "IWLogisticRegression",
    "IWMLPClassifier",
    "IWMLPRegressor",
]

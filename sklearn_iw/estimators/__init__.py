"""scikit-learn estimators of the package."""

from .logistic import IWLogisticRegression
from .lstm import IWLSTMClassifier
from .mlp import IWMLPClassifier

__all__ = ["IWLSTMClassifier", "IWLogisticRegression", "IWMLPClassifier"]

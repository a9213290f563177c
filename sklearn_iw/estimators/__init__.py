"""scikit-learn estimators of the package."""

from .logistic import IWLogisticRegression
from .mlp import IWMLPClassifier

__all__ = ["IWLogisticRegression", "IWMLPClassifier"]

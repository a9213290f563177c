"""sklearn-iw: scikit-learn compatible neural classifiers trained by importance weights."""

from .estimators import IWLogisticRegression, IWMLPClassifier

__version__ = "0.1.0"

__all__ = ["IWLogisticRegression", "IWMLPClassifier", "__version__"]

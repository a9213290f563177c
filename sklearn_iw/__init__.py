"""sklearn-iw: scikit-learn compatible neural classifiers trained by importance weights."""

__version__ = "0.1.0"

"""scikit-learn's own estimator checks, with no expected failures, over every optimizer:
every estimator with its default parameters and each plain optimizer name a new user
would pick, and tuned instances over every rule."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_iw import (
    IWLinearRegression,
    IWLogisticRegression,
    IWLSTMClassifier,
    IWLSTMRegressor,
    IWMLPClassifier,
    IWMLPRegressor,
)
from sklearn_iw.solvers import OPTIMIZERS, SGD, Adam

ESTIMATOR_CLASSES = (
    IWLogisticRegression,
    IWMLPClassifier,
    IWLSTMClassifier,
    IWLinearRegression,
    IWMLPRegressor,
    IWLSTMRegressor,
)
# Defaults as a user meets them: only the optimizer's plain name is set.
DEFAULT_OPTIMIZERS = ("importance_weights", "adam", "sgd", "lbfgs")
DEFAULTS = [cls(optimizer=name) for cls in ESTIMATOR_CLASSES for name in DEFAULT_OPTIMIZERS]


def _mlp(optimizer: str) -> IWMLPClassifier:
    # Quickprop's secant step amplifies float rounding (the sample-weight check compares
    # weighted and repeated data to rtol 1e-7): ~1e-16 grows past 1e-7 after ~100 epochs,
    # so its instance trains 50 epochs.
    max_iter = 50 if optimizer == "quickprop" else 200
    return IWMLPClassifier(
        hidden_layer_sizes=(16,), optimizer=optimizer, max_iter=max_iter, random_state=0
    )


# The linear model with an adaptive, a classic and a quasi-Newton rule, and a second loss.
# scikit-learn's class-weight check uses unscaled features (|x| ~ 30), where the default
# step sizes of Adam (1e-3) and SGD (0.1) are too small / too large: these instances use
# steps suited to that scale.
ESTIMATORS = [
    IWLogisticRegression(optimizer=Adam(lr=0.01), random_state=0),
    IWLogisticRegression(optimizer=SGD(lr=0.01), random_state=0),
    IWLogisticRegression(optimizer="lbfgs", random_state=0),
    IWLogisticRegression(loss="modified_huber", optimizer=Adam(lr=0.01), random_state=0),
    IWLogisticRegression(optimizer="importance_weights", random_state=0),
    *[_mlp(name) for name in sorted(OPTIMIZERS)],
    # The LSTM reads 2D input as univariate sequences. Weighted and repeated samples give
    # batches of different shapes, hence rounding differences of ~1e-16 in its gates;
    # training on the checks' tiny data amplifies them (importance weights ~10x every 5
    # epochs, Adam more slowly) past the sample-weight check's rtol 1e-7, so these
    # instances train 20 and 50 epochs.
    IWLSTMClassifier(hidden_size=8, max_iter=20, random_state=0),
    IWLSTMClassifier(hidden_size=8, optimizer=Adam(lr=0.01), max_iter=50, random_state=0),
    IWLSTMClassifier(hidden_size=8, bidirectional=True, readout="max", max_iter=20, random_state=0),
    IWLSTMClassifier(hidden_size=8, readout="mean", max_iter=20, random_state=0),
]


@parametrize_with_checks(DEFAULTS + ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)

"""scikit-learn's own estimator checks, with no expected failures, over every optimizer:
every estimator with its default parameters and each plain optimizer name a new user
would pick, and tuned instances over every rule."""

import pytest
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
# The default instances that still fail a check, and why (measured; none is loosened here).
# They run in `make test-slow`; the other 18 run in `make test`: 1127 checks (this file:
# 3027 checks; 3034 took 4.5 minutes with -n 2 on the 2-core box).
BLOCKED_DEFAULTS = {
    # Class weights act through the bounds C_i = C * w_i only (the one way that keeps
    # weight k equal to k repeated rows), and C is in units of loss / |gradient|^2: on the
    # check's unscaled blobs (|g_i|^2 ~ 5e4) the bound 1e-4 of the down-weighted classes
    # never binds and the network serves their samples anyway (82% class 0 on the test
    # half, 100% with the features divided by 10). Issue 17 is blocked on it.
    (IWMLPClassifier, "importance_weights"): "check_class_weight_classifiers",
    # Regression steps with nearly every sample strictly inside its box are Gauss-Newton
    # steps on residuals that cancel (r_i ~ 1e-3 to 1e-5 of targets ~1): their rounding
    # grows ~4x per epoch after epoch ~55 (weighted rows part from shuffled weighted rows
    # by 4e-2, not only from repeated ones).
    (IWMLPRegressor, "importance_weights"): "check_sample_weight_equivalence_on_dense_data",
    # Chaotic trajectories: L-BFGS's unit steps through the LSTM's saturating gates
    # multiply rounding ~10x every 2-3 iterations (|dg| / |dx| ~ 1e3) for 100-150
    # iterations whose gradient never falls below tol; a permutation of the same
    # repeated rows parts them as much.
    (IWLSTMClassifier, "lbfgs"): "check_sample_weight_equivalence_on_dense_data",
    # The chrono 'auto' forget bias trains on the check's 15 random series of 30 steps
    # (loss 0.015 at epoch 60; the former ln(T) for every unit stopped after 35 epochs at
    # 1.54, above chance, and passed without learning). Near zero loss the trajectory is
    # chaotic: a step of norm 0.04 (|w| = 22) moves one sample's loss from 0.01 to 5.3 and
    # back, and the rounding of weighted against repeated batches reaches 3.5e-3 in
    # predict_proba by the stop at epoch 106.
    (IWLSTMClassifier, "importance_weights"): "check_sample_weight_equivalence_on_dense_data",
    (IWLSTMRegressor, "lbfgs"): "check_sample_weight_equivalence_on_dense_data",
    # The 10 features read as a univariate sequence, one full-batch step an epoch: R^2
    # 0.01 after 200 steps of sgd (0.11 at lr=1, 0.10 in batches of 20; 0.02 with the
    # chrono 'auto' forget bias). (Adam reached 0.31 at lr=1e-3: the regressor's 'adam' is
    # Adam(lr=0.01), 0.92. Importance weights reach 0.79 under the check's alpha=0.01
    # with the chrono init, 0.47 with the former ln(T) for every unit.)
    (IWLSTMRegressor, "sgd"): "check_regressors_train",
}
PASSING_DEFAULTS = [est for est in DEFAULTS if (type(est), est.optimizer) not in BLOCKED_DEFAULTS]
SLOW_DEFAULTS = [est for est in DEFAULTS if (type(est), est.optimizer) in BLOCKED_DEFAULTS]


def _mlp(optimizer: str) -> IWMLPClassifier:
    # Quickprop's secant step amplifies float rounding (the sample-weight check compares
    # weighted and repeated data to rtol 1e-7): ~1e-16 grows past 1e-7 after ~100 epochs,
    # so its instance trains 50 epochs. Newton's step H^-1 g scales the float32 rounding
    # of the gradient (which differs between weighted and repeated rows) by up to the
    # inverse of the Hessian's smallest curvature, about alpha on these nearly separable
    # data: at alpha=1e-4 the probabilities differ by up to 5e-8 (relative 1e-6, over the
    # check's rtol 1e-7), at alpha=1e-2 they agree. An
    # epoch of Newton costs ~40 forward-backward passes (Hessian-vector products and line
    # search); 50 epochs keep its checks' time near the others'.
    max_iter = {"quickprop": 50, "newton": 50}.get(optimizer, 200)
    alpha = 1e-2 if optimizer == "newton" else 1e-4
    return IWMLPClassifier(
        hidden_layer_sizes=(16,),
        optimizer=optimizer,
        max_iter=max_iter,
        alpha=alpha,
        random_state=0,
    )


# Beyond the defaults: the linear model with a smaller SGD step and a second loss, the
# MLP under every rule, the LSTM's other readouts and directions. The LSTM reads 2D input
# as univariate sequences. Weighted and repeated samples give batches of different
# shapes, hence rounding differences of ~1e-16 in its gates; training on the checks' tiny
# data amplifies them (importance weights ~10x every 5 epochs) past the sample-weight
# check's rtol 1e-7, so these instances train 20 epochs.
ESTIMATORS = [
    IWLogisticRegression(optimizer=SGD(lr=0.01), random_state=0),
    IWLogisticRegression(loss="modified_huber", optimizer=Adam(lr=0.01), random_state=0),
    IWLinearRegression(loss="huber", optimizer=Adam(lr=0.01), random_state=0),
    IWLinearRegression(loss="epsilon_insensitive", optimizer=Adam(lr=0.01), random_state=0),
    IWMLPRegressor(hidden_layer_sizes=(16,), optimizer=Adam(lr=0.01), random_state=0),
    # The line-search methods on the linear models (the MLP has all of them below).
    IWLogisticRegression(optimizer="newton", random_state=0),
    IWLinearRegression(optimizer="bfgs", random_state=0),
    *[_mlp(name) for name in sorted(OPTIMIZERS)],
    IWLSTMClassifier(hidden_size=8, bidirectional=True, readout="max", max_iter=20, random_state=0),
    IWLSTMClassifier(hidden_size=8, readout="mean", max_iter=20, random_state=0),
    # Issue 19's operators: the Crammer-Singer hinge under importance weights (~10 s), the
    # new activations under Adam for 60 epochs (~5-7 s each; importance weights on the MLP
    # are checked above, and would cost ~50 s an instance here), maxout with a norm clip
    # that cuts Adam's steps (every step of a fit on iris).
    IWLogisticRegression(loss="crammer_singer_hinge", random_state=0),
    *[
        IWMLPClassifier(
            hidden_layer_sizes=(16,),
            activation=activation,
            optimizer=Adam(lr=0.02),
            max_iter=60,
            clip_norm=clip_norm,
            random_state=0,
        )
        for activation, clip_norm in [("maxout", 0.05), ("soboleva_tanh", None)]
    ],
]


@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@parametrize_with_checks(PASSING_DEFAULTS)
def test_sklearn_compatible_defaults(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(SLOW_DEFAULTS)
def test_sklearn_compatible_blocked_defaults(estimator, check):
    check(estimator)


def test_defaults_cover_every_estimator_and_optimizer():
    assert len(DEFAULTS) == 24 and len(PASSING_DEFAULTS) + len(SLOW_DEFAULTS) == 24
    assert all(
        (cls, name) in {(type(e), e.optimizer) for e in DEFAULTS} for cls, name in BLOCKED_DEFAULTS
    )

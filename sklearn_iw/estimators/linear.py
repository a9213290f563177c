"""Linear models: IWLogisticRegression and IWLinearRegression."""

from __future__ import annotations

from numbers import Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from torch import nn

from ..engine._losses import LOSSES, REGRESSION_LOSSES
from ._classification import CLASSIFIER_ATTRIBUTES_DOC, CLASSIFIER_DOC_PARTS, BaseIWClassifier
from ._docs import parameters_doc
from ._regression import REGRESSOR_ATTRIBUTES_DOC, REGRESSOR_DOC_PARTS, BaseIWRegressor

_DEFAULTS = {"optimizer": "importance_weights", "max_iter": 200, "alpha": 1e-4}


class _LinearModel:
    """The module of the linear models: one linear layer started at zero."""

    _parameter_constraints: dict = {"fit_intercept": ["boolean"]}
    # The linear model starts at zero and its optimum can lie ~10 or more away in a
    # coordinate (the intercept, on unscaled data); Adam moves each coordinate by about lr
    # a step, and small data sets train one step an epoch: 1e-3 reaches 0.2 in 200 epochs.
    _optimizer_defaults: dict = {"adam": {"lr": 0.01}}
    # A convex loss has one optimum, which a constant step circles on overlapping classes
    # (each batch pulls the model to its own fit): a decaying step settles. Over 14 real
    # tables (2 splits) inverse-time decay took the logistic model within 0.5 point of
    # scikit-learn's on 10 (constant: 5; inverse-sqrt: 9), at a similar number of epochs.
    _schedule_defaults: dict = {"importance_weights": "inverse_time"}

    def _build_module(self, n_features: int, n_outputs: int) -> nn.Module:
        # Zero start, as scikit-learn's linear models: the result does not depend on a seed.
        layer = nn.Linear(n_features, n_outputs, bias=bool(self.fit_intercept))
        nn.init.zeros_(layer.weight)
        if layer.bias is not None:
            nn.init.zeros_(layer.bias)
        return layer

    def _set_fitted_weights(self) -> None:
        layer = self.net_.module_
        self.coef_ = layer.weight.detach().cpu().numpy().copy()
        if layer.bias is not None:
            self.intercept_ = layer.bias.detach().cpu().numpy().copy()
        else:
            self.intercept_ = np.zeros(self.coef_.shape[0], dtype=self.coef_.dtype)


_FIT_INTERCEPT_DOC = """\
fit_intercept : bool, default=True
    Whether to learn the intercept. (For the linear models ``optimizer='adam'`` is
    ``Adam(lr=0.01)``: from a zero start, 1e-3 moves a coefficient by at most 0.2 in
    200 one-batch epochs.)
"""


class IWLogisticRegression(_LinearModel, BaseIWClassifier):
    _parameter_constraints: dict = {
        **BaseIWClassifier._parameter_constraints,
        **_LinearModel._parameter_constraints,
        "loss": [StrOptions(set(LOSSES))],
    }

    def __init__(
        self,
        loss="log_loss",
        *,
        fit_intercept=True,
        optimizer="importance_weights",
        lr_schedule="auto",
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        alpha=1e-4,
        class_weight=None,
        update_clip=None,
        clip_norm=None,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        callbacks=None,
    ):
        self.loss = loss
        self.fit_intercept = fit_intercept
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.alpha = alpha
        self.class_weight = class_weight
        self.update_clip = update_clip
        self.clip_norm = clip_norm
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.callbacks = callbacks


IWLogisticRegression.__doc__ = f"""Linear classifier trained by gradient-based optimizers.

The decision function is ``X @ coef_.T + intercept_`` (one column for binary
problems, one per class otherwise), trained on the chosen loss plus an L2 penalty.

Parameters
----------
loss : {{'log_loss', 'hinge', 'squared_hinge', 'modified_huber', \
'crammer_singer_hinge'}}, default='log_loss'
    'log_loss' is logistic regression (softmax for several classes); 'hinge' is the
    linear SVM loss (multiclass form ``sum_{{j != y}} max(0, f_j - f_y + 1)``, every
    violating class counts), 'squared_hinge' its square, 'modified_huber' a smoothed
    hinge that also gives probabilities; 'crammer_singer_hinge' is the multiclass SVM
    loss of Crammer and Singer (2001), ``max(0, max_{{j != y}} (f_j - f_y + 1))``: only
    the most violating class counts (scikit-learn's
    ``LinearSVC(multi_class='crammer_singer')``); for two classes it is 'hinge'. The
    hinge losses give no ``predict_proba``.
{_FIT_INTERCEPT_DOC}{parameters_doc(**_DEFAULTS, **CLASSIFIER_DOC_PARTS)}
Attributes
----------
coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    Weights of the decision function.
intercept_ : ndarray of shape (1,) or (n_classes,)
    Intercepts of the decision function (zeros when ``fit_intercept=False``).
{CLASSIFIER_ATTRIBUTES_DOC}
See Also
--------
IWMLPClassifier : the same interface with hidden layers.
IWLinearRegression : the linear regressor.

Examples
--------
>>> from sklearn.datasets import load_breast_cancer
>>> from sklearn.preprocessing import StandardScaler
>>> from sklearn_iw import IWLogisticRegression
>>> X, y = load_breast_cancer(return_X_y=True)
>>> X = StandardScaler().fit_transform(X)
>>> clf = IWLogisticRegression(random_state=0).fit(X, y)
>>> clf.coef_.shape
(1, 30)
"""


class IWLinearRegression(_LinearModel, BaseIWRegressor):
    _parameter_constraints: dict = {
        **BaseIWRegressor._parameter_constraints,
        **_LinearModel._parameter_constraints,
        "loss": [StrOptions(set(REGRESSION_LOSSES))],
        "epsilon": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        loss="squared_error",
        *,
        epsilon=0.1,
        fit_intercept=True,
        optimizer="importance_weights",
        lr_schedule="auto",
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        alpha=1e-4,
        update_clip=None,
        clip_norm=None,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
        callbacks=None,
    ):
        self.loss = loss
        self.epsilon = epsilon
        self.fit_intercept = fit_intercept
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.alpha = alpha
        self.update_clip = update_clip
        self.clip_norm = clip_norm
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.callbacks = callbacks

    def _set_fitted_weights(self) -> None:
        super()._set_fitted_weights()
        if self._y_ndim == 1:  # as scikit-learn's linear regressors for 1D targets
            self.coef_ = self.coef_[0]
            self.intercept_ = self.intercept_[0]


IWLinearRegression.__doc__ = f"""Linear regressor trained by gradient-based optimizers.

Predicts ``X @ coef_.T + intercept_``, trained on the chosen loss of the residuals
(averaged over the targets) plus an L2 penalty.

Parameters
----------
loss : {{'squared_error', 'huber', 'epsilon_insensitive'}}, default='squared_error'
    Loss of the residual ``r``: 'squared_error' ``r**2 / 2`` (least squares; ridge
    regression with ``alpha``), 'huber' quadratic up to ``epsilon`` and linear beyond
    (robust to outliers), 'epsilon_insensitive' ``max(0, |r| - epsilon)`` (linear
    support vector regression).
epsilon : float, default=0.1
    Threshold of 'huber' and 'epsilon_insensitive' (in units of the target).
{_FIT_INTERCEPT_DOC}{parameters_doc(**_DEFAULTS, **REGRESSOR_DOC_PARTS)}
Attributes
----------
coef_ : ndarray of shape (n_features,) or (n_outputs, n_features)
    Weights (one row per target column for 2D targets).
intercept_ : float or ndarray of shape (n_outputs,)
    Intercepts (zero when ``fit_intercept=False``).
{REGRESSOR_ATTRIBUTES_DOC}
See Also
--------
IWMLPRegressor : the same interface with hidden layers.
IWLogisticRegression : the linear classifier.

Examples
--------
>>> from sklearn.datasets import make_regression
>>> from sklearn_iw import IWLinearRegression
>>> X, y = make_regression(200, 5, noise=1.0, random_state=0)
>>> reg = IWLinearRegression(optimizer="lbfgs", random_state=0).fit(X, y / y.std())
>>> reg.coef_.shape, bool(reg.score(X, y / y.std()) > 0.99)
((5,), True)
"""

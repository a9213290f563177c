"""Multi-layer perceptrons: IWMLPClassifier and IWMLPRegressor."""

from __future__ import annotations

from numbers import Integral, Real

from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from torch import nn

from ..engine._dropout import SeededDropout
from ._classification import CLASSIFIER_ATTRIBUTES_DOC, CLASSIFIER_DOC_PARTS, BaseIWClassifier
from ._docs import parameters_doc
from ._layers import (
    ACTIVATIONS,
    INITS,
    activation_inputs,
    init_linear,
    make_activation,
    resolve_init,
)
from ._regression import REGRESSOR_ATTRIBUTES_DOC, REGRESSOR_DOC_PARTS, BaseIWRegressor

_DEFAULTS = {"optimizer": "importance_weights", "max_iter": 200, "alpha": 1e-4}


class _MLP:
    """The module of the multi-layer perceptrons: hidden layers, then a linear output."""

    _multi_output = True
    _parameter_constraints: dict = {
        "hidden_layer_sizes": ["array-like", Interval(Integral, 1, None, closed="left")],
        "activation": [StrOptions(set(ACTIVATIONS))],
        "maxout_pieces": [Interval(Integral, 2, None, closed="left")],
        "init": [StrOptions(set(INITS))],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
    }

    def _check_params(self) -> None:
        """Validate the parameters, and each entry of a sequence ``hidden_layer_sizes``."""
        super()._check_params()
        sizes = self.hidden_layer_sizes
        if not isinstance(sizes, Integral) and any(
            not isinstance(s, Integral) or isinstance(s, bool) or s < 1 for s in sizes
        ):
            raise InvalidParameterError(
                f"The 'hidden_layer_sizes' parameter of {type(self).__name__} must be an int "
                f"in the range [1, inf) or an array-like of such ints. Got {sizes!r} instead."
            )

    def _build_module(self, n_features: int, n_outputs: int) -> nn.Module:
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, Integral) else list(sizes)
        init = resolve_init(self.init, self.activation)
        layers: list[nn.Module] = []
        width = n_features
        pieces = self.maxout_pieces
        for size in sizes:
            n_pre = activation_inputs(self.activation, size, pieces)
            linear = nn.Linear(width, n_pre, bias=not self.batch_norm)
            init_linear(linear, init)
            layers.append(linear)
            if self.batch_norm:
                layers.append(nn.BatchNorm1d(n_pre))
            layers.append(make_activation(self.activation, size, pieces))
            if self.dropout:
                layers.append(SeededDropout(self.dropout))
            width = size
        output = nn.Linear(width, n_outputs)
        init_linear(output, "glorot_uniform")
        layers.append(output)
        return nn.Sequential(*layers)

    def _set_fitted_weights(self) -> None:
        linears = [m for m in self.net_.module_ if isinstance(m, nn.Linear)]
        self.coefs_ = [m.weight.detach().cpu().numpy().T.copy() for m in linears]
        self.intercepts_ = [
            (m.bias if m.bias is not None else m.weight.new_zeros(m.out_features))
            .detach()
            .cpu()
            .numpy()
            .copy()
            for m in linears
        ]


_ARCHITECTURE_DOC = """\
hidden_layer_sizes : int or tuple of int, default=(100,)
    Number of units of each hidden layer.
activation : str, default='relu'
    Hidden-unit activation: 'identity', 'logistic', 'tanh', 'lecun_tanh'
    (``1.7159 tanh(2x/3)``), 'relu', 'leaky_relu', 'prelu', 'elu', 'selu', 'gelu',
    'silu', 'softplus', 'gaussian' (``exp(-x^2)``), 'soboleva_tanh' (Soboleva's
    modified tanh ``(e^{ax} - e^{-bx}) / (e^{cx} + e^{-dx})`` with ``a = b = c = 1,
    d = 2``: tanh's slope at 0 and limit +1 on the right, a dip to -1/3 at ``-ln 2``
    on the left that returns to 0) or 'maxout' (each unit the maximum of
    ``maxout_pieces`` linear pieces, Goodfellow et al. 2013; see ``maxout_pieces``).
maxout_pieces : int, default=2
    Linear pieces per unit with ``activation='maxout'`` (ignored otherwise): each
    hidden layer's ``nn.Linear`` then has ``maxout_pieces`` outputs per unit, whose
    maximum is the unit's value, so parameters and training time of the hidden
    layers grow about in proportion. Two pieces are the fewest that make a unit
    nonlinear and already represent ReLU (one piece at zero weights) and ``|x|``;
    more pieces give each unit a finer convex piecewise-linear shape.
init : str, default='auto'
    Hidden-weight initialisation: 'auto' (He for the ReLU family, LeCun normal for
    SELU, Glorot otherwise), 'lecun_normal', 'lecun_uniform', 'glorot_normal',
    'glorot_uniform', 'he_normal', 'he_uniform', 'orthogonal' or 'sparse'. Biases start
    at zero; the output layer uses Glorot uniform.
dropout : float, default=0.0
    Dropout probability after each hidden activation (training only).
batch_norm : bool, default=False
    Batch normalisation before each hidden activation (hidden layers then have no
    bias: the normalisation's shift replaces it).
"""

_WEIGHTS_DOC = """\
coefs_ : list of ndarray
    ``coefs_[i]`` has shape (fan_in, fan_out): the weights of layer ``i``. With
    'maxout' a hidden layer's fan_out is ``units * maxout_pieces``, the pieces of
    unit ``j`` in columns ``j * maxout_pieces`` to ``(j + 1) * maxout_pieces - 1``.
intercepts_ : list of ndarray
    ``intercepts_[i]`` has shape (fan_out,): the biases of layer ``i`` (zeros for hidden
    layers with ``batch_norm``).
"""


class IWMLPClassifier(_MLP, BaseIWClassifier):
    _parameter_constraints: dict = {
        **BaseIWClassifier._parameter_constraints,
        **_MLP._parameter_constraints,
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        maxout_pieces=2,
        init="auto",
        dropout=0.0,
        batch_norm=False,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.maxout_pieces = maxout_pieces
        self.init = init
        self.dropout = dropout
        self.batch_norm = batch_norm
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


class IWMLPRegressor(_MLP, BaseIWRegressor):
    _parameter_constraints: dict = {
        **BaseIWRegressor._parameter_constraints,
        **_MLP._parameter_constraints,
    }

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        maxout_pieces=2,
        init="auto",
        dropout=0.0,
        batch_norm=False,
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
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.maxout_pieces = maxout_pieces
        self.init = init
        self.dropout = dropout
        self.batch_norm = batch_norm
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


IWMLPClassifier.__doc__ = f"""Multi-layer perceptron classifier trained by gradient-based rules.

Hidden layers ``Linear -> [BatchNorm] -> activation -> [Dropout]``, then a linear output
layer: one logistic output for binary problems, softmax outputs for several classes,
independent logistic outputs for multilabel indicator targets (as scikit-learn's
``MLPClassifier``).

Parameters
----------
{_ARCHITECTURE_DOC}{parameters_doc(**_DEFAULTS, **CLASSIFIER_DOC_PARTS)}
Attributes
----------
{_WEIGHTS_DOC}{CLASSIFIER_ATTRIBUTES_DOC}
See Also
--------
IWLogisticRegression : the linear model with the same interface.
IWMLPRegressor : the regressor with the same network.

Examples
--------
>>> from sklearn.datasets import load_digits
>>> from sklearn_iw import IWMLPClassifier
>>> X, y = load_digits(return_X_y=True)
>>> clf = IWMLPClassifier(hidden_layer_sizes=(32,), max_iter=5, random_state=0)
>>> clf.fit(X / 16, y).predict(X[:3] / 16).shape
(3,)
"""

IWMLPRegressor.__doc__ = f"""Multi-layer perceptron regressor trained by gradient-based rules.

Hidden layers ``Linear -> [BatchNorm] -> activation -> [Dropout]``, then a linear output
per target column, trained on the squared error (``r**2 / 2`` averaged over the
targets, scikit-learn's ``MLPRegressor`` loss) plus an L2 penalty.

Parameters
----------
{_ARCHITECTURE_DOC}{parameters_doc(**_DEFAULTS, **REGRESSOR_DOC_PARTS)}
Attributes
----------
{_WEIGHTS_DOC}{REGRESSOR_ATTRIBUTES_DOC}
See Also
--------
IWMLPClassifier : the classifier with the same network.
IWLinearRegression : the linear regressor.

Examples
--------
>>> from sklearn.datasets import load_diabetes
>>> from sklearn.preprocessing import StandardScaler
>>> from sklearn_iw import IWMLPRegressor
>>> X, y = load_diabetes(return_X_y=True)
>>> X = StandardScaler().fit_transform(X)
>>> reg = IWMLPRegressor((32,), max_iter=5, random_state=0).fit(X, y / y.std())
>>> reg.predict(X[:3]).shape
(3,)
"""

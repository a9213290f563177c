"""LSTM sequence models: IWLSTMClassifier and IWLSTMRegressor (their network is in
``_lstm_network.py``)."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_consistent_length, validate_data
from torch import nn

from ._classification import CLASSIFIER_ATTRIBUTES_DOC, CLASSIFIER_DOC_PARTS, BaseIWClassifier
from ._docs import parameters_doc
from ._lstm_network import READOUTS, LSTMNetwork
from ._regression import REGRESSOR_ATTRIBUTES_DOC, REGRESSOR_DOC_PARTS, BaseIWRegressor
from ._sequences import SequenceEncoder


class _LSTM:
    """The module and the inputs of the LSTM models: every sequence form the encoder
    accepts, read by :class:`LSTMNetwork`."""

    _multi_output = True
    # The step check stays off: latching leaves its plateau only through steps that raise
    # the batch loss for a while (docs/importance_weights.md).
    _optimizer_defaults: dict = {"importance_weights": {"p": 0.1, "sufficient_decrease": 0.0}}
    _parameter_constraints: dict = {
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "window": [Interval(Integral, 1, None, closed="left")],
        "alphabet": [str, "array-like", None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "forget_bias": [
            StrOptions({"auto"}),
            Interval(Real, -math.inf, math.inf, closed="neither"),
        ],
        "readout": [StrOptions(set(READOUTS))],
    }

    def _check_params(self) -> None:
        super()._check_params()
        if self.window % 2 == 0:
            raise ValueError(f"window must be odd (centred on the step), got {self.window}.")

    def _build_module(self, n_features: int, n_outputs: int) -> nn.Module:
        return LSTMNetwork(
            n_features - 1,  # channel 0 flags the real steps
            self.hidden_size,
            self.num_layers,
            bool(self.bidirectional),
            float(self.dropout),
            self._forget_bias(),
            n_outputs,
            self.readout,
        )

    def _validate_training_data(self, X, y, reset: bool) -> tuple[np.ndarray, np.ndarray]:
        if y is None:
            raise ValueError(
                f"This {type(self).__name__} estimator requires y to be passed, but the "
                "target y is None."
            )
        y = check_array(y, ensure_2d=False, dtype=None, input_name="y", estimator=self)
        X = self._encode(X, reset)
        check_consistent_length(X, y)
        return X, y

    def _validate_input(self, X) -> np.ndarray:
        return self._encode(X, reset=False)

    def _encode(self, X, reset: bool) -> np.ndarray:
        """Validate any accepted input form and return its padded encoding."""
        form = SequenceEncoder.detect_form(X)
        if form == "columns":
            if reset or self.input_form_ == "columns":
                X = validate_data(self, X, reset=reset, dtype=(np.float64, np.float32))
            else:  # a 2D array after a fit on sequences: univariate sequences
                X = check_array(X, dtype=(np.float64, np.float32))
            X = X[:, :, np.newaxis]
        if not reset:
            return self.sequence_encoder_.transform(X)
        encoder = SequenceEncoder(self.window, self.alphabet)
        encoded = encoder.fit(X)
        lengths = encoded[:, :, 0].sum(axis=1)
        self._n_steps = encoded.shape[1]
        self._longest_is_unique = int((lengths == lengths.max()).sum()) == 1
        self.sequence_encoder_ = encoder
        self.input_form_ = form
        self.alphabet_ = encoder.letters if form == "strings" else None
        if form != "columns":
            self.n_features_in_ = encoder.n_step_features
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        return encoded

    def _forget_bias(self) -> float | tuple[float, float]:
        """The initial forget-gate bias, or for 'auto' the chrono range ``(1, T)``, where
        ``T`` is the longest training sequence (at least 2)."""
        if self.forget_bias == "auto":
            return (1.0, float(max(self._n_steps, 2)))
        return float(self.forget_bias)

    def _lemma_obstacle(self) -> str | None:
        if self.forget_bias == "auto" and self._longest_is_unique:
            return (
                "forget_bias='auto' is set by the longest training sequence, which one sample "
                "alone has (pass a number to keep the leave-one-out quantities)"
            )
        return None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags


class IWLSTMClassifier(_LSTM, BaseIWClassifier):
    _parameter_constraints: dict = {
        **BaseIWClassifier._parameter_constraints,
        **_LSTM._parameter_constraints,
    }

    def __init__(
        self,
        hidden_size=32,
        num_layers=1,
        bidirectional=False,
        window=1,
        alphabet=None,
        dropout=0.0,
        forget_bias="auto",
        readout="last",
        *,
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
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.window = window
        self.alphabet = alphabet
        self.dropout = dropout
        self.forget_bias = forget_bias
        self.readout = readout
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


class IWLSTMRegressor(_LSTM, BaseIWRegressor):
    _parameter_constraints: dict = {
        **BaseIWRegressor._parameter_constraints,
        **_LSTM._parameter_constraints,
    }
    # Adam moves each weight by about lr a step, and data sets of up to 200 rows train one
    # step an epoch: at 1e-3 scikit-learn's regression check data (10 features read as a
    # sequence) reached R^2 0.31 in 200 epochs, at 0.01 0.92; on 1000 random-walk series
    # of 30 steps (5 steps an epoch) held-out R^2 0.70 against 0.90.
    _optimizer_defaults: dict = {"adam": {"lr": 0.01}}

    def __init__(
        self,
        hidden_size=32,
        num_layers=1,
        bidirectional=False,
        window=1,
        alphabet=None,
        dropout=0.0,
        forget_bias="auto",
        readout="last",
        *,
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
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.window = window
        self.alphabet = alphabet
        self.dropout = dropout
        self.forget_bias = forget_bias
        self.readout = readout
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


_DEFAULTS = {"optimizer": "importance_weights", "max_iter": 200, "alpha": 1e-4}


_INPUTS_DOC = """\
Accepted inputs (for ``fit`` and every prediction method):

- 2D numeric ``(n, T)`` or a pandas DataFrame: ``n`` univariate sequences of length ``T``
  (then ``n_features_in_ = T`` and prediction input needs ``T`` columns too);
- 3D numeric ``(n, T, d)``: multivariate sequences;
- a list of arrays ``(T_i, d)`` (or ``(T_i,)``) of varying lengths;
- a list or 1D array of strings (protein or DNA sequences), one-hot encoded over
  ``alphabet``. A letter not in the alphabet is encoded as an all-zero step.
"""

_ARCHITECTURE_DOC = """\
hidden_size : int, default=32
    Units per layer and direction.
num_layers : int, default=1
    Number of stacked LSTM layers.
bidirectional : bool, default=False
    Add a backward direction; the head reads the final state of both (the backward
    direction's after it has read the sequence back to its first step).
window : int, default=1
    Odd width of the input window: step ``t`` is fed the concatenated features of steps
    ``t - window // 2`` to ``t + window // 2``, zero beyond either end of the sequence.
alphabet : str, sequence of str or None, default=None
    Letters of string inputs; None learns the sorted set of letters seen in ``fit``.
    Ignored for numeric inputs.
dropout : float, default=0.0
    Dropout on the outputs of every layer (training only).
forget_bias : 'auto' or float, default='auto'
    Initial bias ``b`` of the forget gates; the input gates start at ``-b`` and the other
    weights and biases uniform in ``[-1/sqrt(hidden_size), 1/sqrt(hidden_size)]`` as in
    torch. The cell state then decays by about ``sigmoid(b)`` per step and takes in little
    noise. 'auto' is the chrono initialisation of Tallec and Ollivier (2018): each unit's
    ``b = ln(u)`` with ``u`` uniform in ``[1, T]`` for training sequences of up to ``T``
    steps (at least 2), so that the units start with memory spans from one step to ``T``
    (where one sample alone is the longest, it breaks the leave-one-out lemma: pass a
    number). One ``b = ln(T)`` for every unit, the former 'auto', latched over 100 steps
    but left real series of 150-365 steps at chance on the loss plateau (GunPoint 0.66,
    ArrowHead 0.36 over 3 splits); the spread reached 0.94 and 0.59 and solved
    ``make_latching``'s default task in 8 of 8 fits (benchmarks/README.md). A fixed 1.0
    failed that task on 2 of 6 seeds; a fixed 4.5 starved short sequences (digits read
    row by row: 0.91-0.93 against 0.93-0.96 with 1.0).
readout : {'last', 'mean', 'max'}, default='last'
    What the head reads: 'last' the final states (the forward direction's after each
    sequence's last step, the backward direction's after its first); 'mean' and 'max'
    the mean and the maximum of the last layer's outputs over each sequence's real
    steps, so that information anywhere in a sequence (a motif in the middle) reaches
    the head directly. (For the LSTM models ``optimizer='importance_weights'`` is
    ``ImportanceWeights(p=0.1, sufficient_decrease=0)``: margins of ``p=1``, the tabular
    models' default, did not learn latching over 100 steps in 10 epochs, nor lower the
    loss on short strings; with the step check of the tabular models latching stayed at
    chance, 0.48 against 1.00 without it.)
"""

_INPUT_ATTRIBUTES_DOC = """\
input_form_ : {'columns', 'sequences', 'strings'}
    Form of the training input: 2D numeric, numeric sequences, or strings.
alphabet_ : ndarray of str or None
    The letters of the one-hot encoding for string input, else None.
sequence_encoder_ : SequenceEncoder
    The fitted input encoder.
"""


def _attributes(task_doc: str) -> str:
    """The task's common attributes, with ``n_features_in_`` as the LSTM reads it."""
    return task_doc.replace(
        "Number of features seen during fit.",
        "Columns of 2D training input; features per step (alphabet size for strings) otherwise.",
    )


IWLSTMClassifier.__doc__ = f"""LSTM sequence classifier trained by gradient-based rules.

Stacked LSTM layers (optionally bidirectional) read each sequence up to its own last
step; a linear head on a readout of the last layer (its final states, or the mean or the
maximum of its outputs over the real steps) gives one logistic output for binary
problems, softmax outputs for several classes, independent logistic outputs for
multilabel indicator targets. Every direction of every layer is one call of torch's fused
LSTM kernel over the padded batch (no packing); with ``optimizer='importance_weights'``
the per-sample Gram of the gradients through time comes exactly out of the same kernel
(an identity probe yields the gate gradients), so importance weights and the
leave-one-out quantities work as for the other estimators.

{_INPUTS_DOC}
Parameters
----------
{_ARCHITECTURE_DOC}{parameters_doc(**_DEFAULTS, **CLASSIFIER_DOC_PARTS)}
Attributes
----------
{_INPUT_ATTRIBUTES_DOC}{_attributes(CLASSIFIER_ATTRIBUTES_DOC)}
See Also
--------
IWMLPClassifier : the feed-forward network with the same interface.
IWLSTMRegressor : the regressor with the same network.

Examples
--------
>>> from sklearn_iw import IWLSTMClassifier
>>> X = ["ACGTAC", "TTGACA", "ACGA", "TTGT"] * 5
>>> y = [1, 0, 1, 0] * 5
>>> clf = IWLSTMClassifier(hidden_size=8, max_iter=20, random_state=0).fit(X, y)
>>> clf.predict(["ACGG", "TTGG"]).shape
(2,)
"""

IWLSTMRegressor.__doc__ = f"""LSTM sequence regressor trained by gradient-based rules.

The network of :class:`IWLSTMClassifier` with one linear output per target column,
trained on the squared error (``r**2 / 2`` averaged over the targets) plus an L2
penalty: forecasting the next value of a series from a window of its past, or any
per-sequence quantity. ``optimizer='adam'`` is ``Adam(lr=0.01)`` here (at 1e-3, 200
one-step epochs leave the network underfitted).

{_INPUTS_DOC}
Parameters
----------
{_ARCHITECTURE_DOC}{parameters_doc(**_DEFAULTS, **REGRESSOR_DOC_PARTS)}
Attributes
----------
{_INPUT_ATTRIBUTES_DOC}{_attributes(REGRESSOR_ATTRIBUTES_DOC)}
See Also
--------
IWLSTMClassifier : the classifier with the same network.
IWMLPRegressor : the feed-forward regressor.

Examples
--------
>>> import numpy as np
>>> from sklearn_iw import IWLSTMRegressor
>>> series = np.sin(np.arange(300) / 5)
>>> X = np.stack([series[i : i + 20] for i in range(250)])  # windows of 20 steps
>>> y = series[20:270]  # the next value
>>> reg = IWLSTMRegressor(hidden_size=8, max_iter=5, random_state=0).fit(X, y)
>>> reg.predict(X[:3]).shape
(3,)
"""

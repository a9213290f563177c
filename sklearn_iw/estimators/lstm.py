"""LSTM sequence models: IWLSTMClassifier and IWLSTMRegressor, and their network."""

from __future__ import annotations

import contextlib
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_consistent_length, validate_data
from torch import nn

from ..solvers import linear_call_recorder
from ._base import parameters_doc
from ._classification import CLASSIFIER_ATTRIBUTES_DOC, CLASSIFIER_DOC_PARTS, BaseIWClassifier
from ._layers import SeededDropout
from ._regression import REGRESSOR_ATTRIBUTES_DOC, REGRESSOR_DOC_PARTS, BaseIWRegressor
from ._sequences import SequenceEncoder

READOUTS = ("last", "mean", "max")


def _reverse_within(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Reverse each sequence of ``x`` (B, T, k) within its own length; padding stays put."""
    steps = torch.arange(x.shape[1], device=x.device)
    index = lengths.unsqueeze(1) - 1 - steps
    index = torch.where(index >= 0, index, steps)
    return torch.gather(x, 1, index.unsqueeze(2).expand_as(x))


def _last_step(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Row ``lengths[i] - 1`` of each sequence of ``x`` (B, T, k): shape (B, k)."""
    index = (lengths - 1).view(-1, 1, 1).expand(-1, 1, x.shape[2])
    return torch.gather(x, 1, index).squeeze(1)


def _previous_step(x: torch.Tensor) -> torch.Tensor:
    """``x`` (B, T, k) shifted one step later in time, zero at the first step."""
    return torch.cat([torch.zeros_like(x[:, :1]), x[:, :-1]], dim=1)


@contextlib.contextmanager
def _cudnn(exact: bool):
    """cuDNN without its warning that it prefers one flat weight buffer (ours are views of
    the Linear weights), and without TF32 when ``exact``: the identity probe must carry
    the gate gradients unrounded for an exact Gram."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*single contiguous chunk of memory")
        if exact:
            with torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, allow_tf32=False):
                yield
        else:
            yield


class LSTMLayer(nn.Module):
    """One LSTM layer, one or two directions, whose weights are ``nn.Linear`` layers.

    The gate order is torch's (input, forget, cell, output). Every direction is one call
    of torch's fused kernel (``torch.lstm``) over the full padded length: padding sits
    after each sequence's last step (the backward direction reads each sequence reversed
    within its own length), so it never reaches a real step's output, and no packing is
    needed (packed input sends CPU runs to a per-step kernel, several times slower).

    While :func:`~sklearn_iw.solvers.per_sample_gram` records a forward, the kernel gets
    an *identity probe*: the input gates ``W_ih x_t + b`` are computed outside it by
    ``input_gates`` (an ``nn.Linear`` call the Gram hooks see) and fed through an identity
    input weight, so the gradient of the kernel's input is the gate pre-activation
    gradient ``Delta_t``. With the previous outputs ``h_{t-1}`` (the kernel's output
    sequence shifted one step) the per-sample gradient of each recurrent matrix is
    ``sum_t outer(Delta_t, h_{t-1})``, declared to the Gram through
    :func:`~sklearn_iw.solvers.linear_call_recorder`: the Gram through time is exact
    without a Python loop over time.

    Parameters
    ----------
    n_inputs : int
        Features per step.
    hidden_size : int
        Units per direction.
    bidirectional : bool
        Add a direction that reads each sequence backwards from its own last step.
    forget_bias : float or (float, float)
        Initial bias of the forget gates; the input gates start at its negative. A pair
        ``(1, T)`` is the chrono initialisation: each unit's bias is ``ln(u)`` with ``u``
        drawn uniformly from ``[1, T]``, so that the units start with memory timescales
        spread from one step to ``T``.
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_size: int,
        bidirectional: bool,
        forget_bias: float | tuple[float, float],
    ):
        super().__init__()
        self.hidden_size = hidden_size
        n_dirs = 2 if bidirectional else 1
        self.input_gates = nn.Linear(n_inputs, 4 * hidden_size * n_dirs)
        self.recurrent_gates = nn.ModuleList(
            nn.Linear(hidden_size, 4 * hidden_size, bias=False) for _ in range(n_dirs)
        )
        bound = hidden_size**-0.5  # torch's LSTM initialisation
        for param in self.parameters():
            nn.init.uniform_(param, -bound, bound)
        with torch.no_grad():
            for d in range(n_dirs):
                if isinstance(forget_bias, tuple):
                    bias = torch.empty(hidden_size).uniform_(*forget_bias).log_()
                else:
                    bias = torch.full((hidden_size,), float(forget_bias))
                start = 4 * hidden_size * d + hidden_size
                self.input_gates.bias[start - hidden_size : start] = -bias
                self.input_gates.bias[start : start + hidden_size] = bias

    def forward(self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Outputs ``(B, T, H * dirs)`` of every step, zero on padding (``mask`` is
        ``(B, T, 1)``, one on the real steps); the backward direction's outputs are in
        the sequence's own order."""
        gates_size = 4 * self.hidden_size
        record = linear_call_recorder()
        loop = record is not None and self._loop_is_cheaper(x)
        if record is not None:
            gates = self.input_gates(x)
            identity = torch.eye(gates_size, dtype=x.dtype, device=x.device)
            no_bias = x.new_zeros(gates_size)  # the bias is in ``gates``
        outputs = []
        for d, recurrent in enumerate(self.recurrent_gates):
            rows = slice(gates_size * d, gates_size * (d + 1))
            if record is None:
                inputs, weight = x, self.input_gates.weight[rows]
                bias = self.input_gates.bias[rows]
            else:
                inputs, weight, bias = gates[..., rows], identity, no_bias
            if d == 1:
                inputs = _reverse_within(inputs, lengths)
            if loop:
                out = self._loop(inputs, recurrent)
            else:
                out = self._kernel(inputs, weight, recurrent.weight, bias, record is not None)
            if record is not None and not loop:
                # inputs' gradient is Delta_t, the gradient of the recurrent call's output.
                record(recurrent, _previous_step(out), inputs)
            outputs.append(_reverse_within(out, lengths) if d == 1 else out)
        return torch.cat(outputs, dim=2) * mask

    def _loop_is_cheaper(self, x: torch.Tensor) -> bool:
        """Whether the identity probe costs more than a Python loop over the steps.

        The probe adds three ``(B T, 4H) x (4H, 4H)`` products to the kernel (forward,
        input gradient, weight gradient), about ``48 B H^2`` multiply-adds per step; the
        loop costs about 0.2 ms of dispatch per step on the CPU whatever the sizes. At
        one CPU thread the two meet near ``B H^2 = 10^5`` (measured: B = 50, H = 16, the
        fused probe 3.4x faster; B = 200, H = 32, the loop 1.6-1.8x faster). On CUDA the
        loop's launches always cost more.
        """
        return x.device.type == "cpu" and x.shape[0] * self.hidden_size**2 >= 100_000

    def _loop(self, gates: torch.Tensor, recurrent: nn.Linear) -> torch.Tensor:
        """One direction's outputs ``(B, T, H)`` from its input gates ``(B, T, 4H)`` by an
        explicit loop over time: every recurrent product is an ``nn.Linear`` call that
        the Gram's hooks record."""
        hidden = self.hidden_size
        states, h, c = [], None, None
        # unbind, not gates[:, t]: each slice's backward would zero a full-size buffer.
        for step in gates.unbind(dim=1):
            pre = step if h is None else step + recurrent(h)
            # split, not slices: one backward concatenation instead of a buffer each.
            in_gate, forget_gate, cell, out_gate = pre.split(hidden, dim=1)
            written = torch.sigmoid(in_gate) * torch.tanh(cell)
            c = written if c is None else written + torch.sigmoid(forget_gate) * c
            h = torch.sigmoid(out_gate) * torch.tanh(c)
            states.append(h)
        return torch.stack(states, dim=1)

    def _kernel(self, inputs, w_ih, w_hh, bias, exact: bool) -> torch.Tensor:
        h0 = inputs.new_zeros(1, inputs.shape[0], self.hidden_size)
        weights = [w_ih, w_hh, bias, torch.zeros_like(bias)]
        # Only on CUDA: catch_warnings is costly per batch and not thread-safe.
        with _cudnn(exact) if inputs.is_cuda else contextlib.nullcontext():
            out, _, _ = torch.lstm(
                inputs, (h0, h0), weights, True, 1, 0.0, self.training, False, True
            )
        return out


class LSTMNetwork(nn.Module):
    """Stacked LSTM layers and a linear head on a readout of the last layer's outputs.

    The input is the padded encoding of :mod:`._sequences`: ``(B, T, 1 + k)`` with the
    step flag in channel 0.

    Parameters
    ----------
    n_inputs : int
        Features per step (without the flag channel).
    hidden_size, num_layers : int
        Units per direction and number of stacked layers.
    bidirectional : bool
        Read every sequence in both directions.
    dropout : float
        Dropout on the outputs of every layer (training only).
    forget_bias : float or (float, float)
        Initial bias of the forget gates, or the range of the chrono initialisation
        (:class:`LSTMLayer`); the input gates start at its negative.
    n_outputs : int
        Number of outputs of the head.
    readout : {'last', 'mean', 'max'}
        What the head reads: the final states (the forward direction's after the last
        step, the backward direction's after the first), or the mean or the maximum of
        the last layer's outputs over each sequence's real steps.
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        forget_bias: float | tuple[float, float],
        n_outputs: int,
        readout: str = "last",
    ):
        super().__init__()
        width = hidden_size * (2 if bidirectional else 1)
        self.layers = nn.ModuleList(
            LSTMLayer(n_inputs if i == 0 else width, hidden_size, bidirectional, forget_bias)
            for i in range(num_layers)
        )
        self.dropout = SeededDropout(dropout) if dropout else nn.Identity()
        self.head = nn.Linear(width, n_outputs)
        self.hidden_size = hidden_size
        self.readout = readout

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        mask = X[:, :, :1]
        lengths = mask.sum(dim=(1, 2)).long()
        x = X[:, :, 1:]
        for depth, layer in enumerate(self.layers):
            if depth:  # between layers
                x = self.dropout(x)
            x = layer(x, lengths, mask)
        return self.head(self.dropout(self._read(x, lengths, mask)))

    def _read(self, x: torch.Tensor, lengths: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        if self.readout == "mean":
            return x.sum(dim=1) / lengths.unsqueeze(1).to(x.dtype)
        if self.readout == "max":
            return x.masked_fill(mask == 0, -math.inf).amax(dim=1)
        forward = _last_step(x[..., : self.hidden_size], lengths)
        return torch.cat([forward, x[:, 0, self.hidden_size :]], dim=1)


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

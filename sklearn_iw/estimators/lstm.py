"""IWLSTMClassifier: an LSTM sequence classifier trained by the package's engine."""

from __future__ import annotations

import contextlib
import math
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.utils._param_validation import Interval
from sklearn.utils.validation import check_array, check_consistent_length, validate_data
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..solvers import resolve_optimizer
from ._base import COMMON_ATTRIBUTES_DOC, COMMON_PARAMETERS_DOC, BaseIWClassifier
from ._layers import SeededDropout
from ._sequences import SequenceEncoder


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


@contextlib.contextmanager
def _quiet_cudnn():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*single contiguous chunk of memory")
        yield


class LSTMLayer(nn.Module):
    """One LSTM layer, one or two directions, whose weights are ``nn.Linear`` layers.

    The gate order is torch's (input, forget, cell, output). Two forward paths compute
    the same function: torch's fused kernel over packed sequences, and an explicit loop
    over time steps used while training with importance weights, where every gate
    matrix is an ``nn.Linear`` call that :func:`~sklearn_iw.solvers.per_sample_gram`
    hooks to get the exact per-sample Gram through time.

    Parameters
    ----------
    n_inputs : int
        Features per step.
    hidden_size : int
        Units per direction.
    bidirectional : bool
        Add a direction that reads each sequence backwards from its own last step.
    forget_bias : float
        Initial bias of the forget gates; the input gates start at its negative.
    """

    def __init__(self, n_inputs: int, hidden_size: int, bidirectional: bool, forget_bias: float):
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
                start = 4 * hidden_size * d + hidden_size
                self.input_gates.bias[start - hidden_size : start] = -forget_bias
                self.input_gates.bias[start : start + hidden_size] = forget_bias

    def forward(
        self, x: torch.Tensor, lengths: torch.Tensor, unrolled: bool
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Outputs ``(B, T, H * dirs)`` (zero on padding) and the final states
        ``(B, H * dirs)`` of each sequence (forward: after its last step; backward: after
        its first step)."""
        if unrolled:
            return self._unrolled(x, lengths)
        return self._fused(x, lengths)

    def _unrolled(self, x, lengths):
        hidden = self.hidden_size
        gates = self.input_gates(x)
        outputs, finals = [], []
        for d, recurrent in enumerate(self.recurrent_gates):
            gates_d = gates[..., 4 * hidden * d : 4 * hidden * (d + 1)]
            if d == 1:
                gates_d = _reverse_within(gates_d, lengths)
            states = []
            h = c = None
            # unbind, not gates_d[:, t]: each slice's backward would zero a full-size buffer.
            for step in gates_d.unbind(dim=1):
                pre = step if h is None else step + recurrent(h)
                # split, not slices: one backward concatenation instead of a buffer each.
                in_gate, forget_gate, _, out_gate = torch.sigmoid(pre).split(hidden, dim=1)
                written = in_gate * torch.tanh(pre.split(hidden, dim=1)[2])
                c = written if c is None else written + forget_gate * c
                h = out_gate * torch.tanh(c)
                states.append(h)
            out = torch.stack(states, dim=1)
            finals.append(_last_step(out, lengths))
            outputs.append(_reverse_within(out, lengths) if d == 1 else out)
        mask = (torch.arange(x.shape[1], device=x.device) < lengths.unsqueeze(1)).unsqueeze(2)
        return torch.cat(outputs, dim=2) * mask, torch.cat(finals, dim=1)

    def _fused(self, x, lengths):
        hidden = self.hidden_size
        n_dirs = len(self.recurrent_gates)
        zero_bias = x.new_zeros(4 * hidden)
        weights = []
        for d, recurrent in enumerate(self.recurrent_gates):
            rows = slice(4 * hidden * d, 4 * hidden * (d + 1))
            weights += [
                self.input_gates.weight[rows],
                recurrent.weight,
                self.input_gates.bias[rows],
                zero_bias,
            ]
        h0 = x.new_zeros(n_dirs, x.shape[0], hidden)
        lengths_cpu = lengths.cpu()
        # cuDNN warns that it prefers one flat weight buffer (ours are views of the Linear
        # weights). Only there: catch_warnings is costly per batch and not thread-safe.
        with _quiet_cudnn() if x.is_cuda else contextlib.nullcontext():
            if bool((lengths_cpu == x.shape[1]).all()):  # equal lengths: no packing needed
                out, h_n, _ = torch.lstm(
                    x, (h0, h0), weights, True, 1, 0.0, self.training, n_dirs == 2, True
                )
                return out, h_n.transpose(0, 1).reshape(x.shape[0], -1)
            packed = pack_padded_sequence(x, lengths_cpu, batch_first=True, enforce_sorted=False)
            data, h_n, _ = torch.lstm(
                packed.data, packed.batch_sizes, (h0, h0), weights, True, 1, 0.0,
                self.training, n_dirs == 2,
            )  # fmt: skip
        out, _ = pad_packed_sequence(
            PackedSequence(
                data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices
            ),
            batch_first=True,
            total_length=x.shape[1],
        )
        finals = h_n[:, packed.unsorted_indices].transpose(0, 1).reshape(x.shape[0], -1)
        return out, finals


class LSTMNetwork(nn.Module):
    """Stacked LSTM layers and a linear head on the final states.

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
    forget_bias : float
        Initial bias of the forget gates; the input gates start at its negative.
    n_outputs : int
        Number of outputs of the head.
    unrolled : bool
        Train with the explicit time loop (needed by importance weights); prediction
        always uses torch's fused kernel.
    """

    def __init__(
        self,
        n_inputs: int,
        hidden_size: int,
        num_layers: int,
        bidirectional: bool,
        dropout: float,
        forget_bias: float,
        n_outputs: int,
        unrolled: bool,
    ):
        super().__init__()
        width = hidden_size * (2 if bidirectional else 1)
        self.layers = nn.ModuleList(
            LSTMLayer(n_inputs if i == 0 else width, hidden_size, bidirectional, forget_bias)
            for i in range(num_layers)
        )
        self.dropout = SeededDropout(dropout) if dropout else nn.Identity()
        self.head = nn.Linear(width, n_outputs)
        self.unrolled = unrolled

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        lengths = X[:, :, 0].sum(dim=1).long()
        x = X[:, :, 1:]
        unrolled = self.unrolled and self.training
        for depth, layer in enumerate(self.layers):
            if depth:  # between layers; the last layer's sequence output is not used
                x = self.dropout(x)
            x, finals = layer(x, lengths, unrolled)
        return self.head(self.dropout(finals))


class IWLSTMClassifier(BaseIWClassifier):
    _supports_multilabel = True
    _parameter_constraints: dict = {
        **BaseIWClassifier._parameter_constraints,
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "num_layers": [Interval(Integral, 1, None, closed="left")],
        "bidirectional": ["boolean"],
        "window": [Interval(Integral, 1, None, closed="left")],
        "alphabet": [str, "array-like", None],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "forget_bias": [Interval(Real, -math.inf, math.inf, closed="neither")],
    }

    def __init__(
        self,
        hidden_size=32,
        num_layers=1,
        bidirectional=False,
        window=1,
        alphabet=None,
        dropout=0.0,
        forget_bias=1.0,
        *,
        optimizer="importance_weights",
        lr_schedule="constant",
        batch_size="auto",
        max_iter=200,
        tol=1e-4,
        n_iter_no_change=10,
        early_stopping=False,
        validation_fraction=0.1,
        alpha=1e-4,
        class_weight=None,
        update_clip=None,
        device="auto",
        random_state=None,
        verbose=0,
        warm_start=False,
    ):
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bidirectional = bidirectional
        self.window = window
        self.alphabet = alphabet
        self.dropout = dropout
        self.forget_bias = forget_bias
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
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

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
            float(self.forget_bias),
            n_outputs,
            unrolled=resolve_optimizer(self.optimizer).per_sample,
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
        self.sequence_encoder_ = encoder
        self.input_form_ = form
        self.alphabet_ = encoder.letters if form == "strings" else None
        if form != "columns":
            self.n_features_in_ = encoder.n_step_features
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        return encoded

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        return tags


IWLSTMClassifier.__doc__ = f"""LSTM sequence classifier trained by gradient-based rules.

Stacked LSTM layers (optionally bidirectional) read each sequence up to its own last
step; a linear head on the final states gives one logistic output for binary problems,
softmax outputs for several classes, independent logistic outputs for multilabel
indicator targets. With ``optimizer='importance_weights'`` the per-sample Gram of the
gradients through time is computed exactly, so importance weights and the leave-one-out
bound work as for the other estimators.

Accepted inputs (for ``fit`` and every prediction method):

- 2D numeric ``(n, T)`` or a pandas DataFrame: ``n`` univariate sequences of length ``T``
  (then ``n_features_in_ = T`` and prediction input needs ``T`` columns too);
- 3D numeric ``(n, T, d)``: multivariate sequences;
- a list of arrays ``(T_i, d)`` (or ``(T_i,)``) of varying lengths;
- a list or 1D array of strings (protein or DNA sequences), one-hot encoded over
  ``alphabet``. A letter not in the alphabet is encoded as an all-zero step.

Parameters
----------
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
forget_bias : float, default=1.0
    Initial bias ``b`` of the forget gates; the input gates start at ``-b`` (as in the
    chrono initialisation of Tallec and Ollivier, 2018) and the other weights and biases
    uniform in ``[-1/sqrt(hidden_size), 1/sqrt(hidden_size)]`` as in torch. The cell state
    then decays by about ``sigmoid(b)`` per step and takes in little noise: long time lags
    need larger values (3 learns lags of 100 steps).
{COMMON_PARAMETERS_DOC.format(optimizer="importance_weights", max_iter=200, alpha=1e-4)}
Attributes
----------
input_form_ : {{'columns', 'sequences', 'strings'}}
    Form of the training input: 2D numeric, numeric sequences, or strings.
alphabet_ : ndarray of str or None
    The letters of the one-hot encoding for string input, else None.
sequence_encoder_ : SequenceEncoder
    The fitted input encoder.
{
    COMMON_ATTRIBUTES_DOC.replace(
        "Number of features seen during fit.",
        "Columns of 2D training input; features per step (alphabet size for strings) otherwise.",
    )
}
See Also
--------
IWMLPClassifier : the feed-forward network with the same interface.

Examples
--------
>>> from sklearn_iw import IWLSTMClassifier
>>> X = ["ACGTAC", "TTGACA", "ACGA", "TTGT"] * 5
>>> y = [1, 0, 1, 0] * 5
>>> clf = IWLSTMClassifier(hidden_size=8, max_iter=20, random_state=0).fit(X, y)
>>> clf.predict(["ACGG", "TTGG"]).shape
(2,)
"""

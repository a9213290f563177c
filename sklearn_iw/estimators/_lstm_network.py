"""The LSTM network of IWLSTMClassifier and IWLSTMRegressor: layers, directions, readouts."""

from __future__ import annotations

import contextlib
import math
import warnings

import torch
from torch import nn

from ..engine._dropout import SeededDropout
from ..optim.iw._gram import linear_call_recorder

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

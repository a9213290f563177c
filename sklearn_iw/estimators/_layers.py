"""Activation functions and weight initialisations offered by the estimators."""

from __future__ import annotations

import math

import torch
from torch import nn


class LeCunTanh(nn.Module):
    """LeCun's scaled tanh, ``1.7159 * tanh(2x / 3)`` (Efficient BackProp, 1998)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.7159 * torch.tanh(x * (2.0 / 3.0))


class Gaussian(nn.Module):
    """Gaussian activation ``exp(-x^2)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.exp(-x.square())


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` drawing its masks from its own generator.

    The engine hands every fit a generator seeded from ``random_state``, so fits running
    at the same time in threads of one process neither share nor disturb torch's global
    random state. Without a generator it draws from the global one, like ``nn.Dropout``.

    Attributes
    ----------
    generator : torch.Generator or None
        Source of the masks, on the device of the inputs; not pickled (each fit sets it).
    """

    generator: torch.Generator | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)
        return x * keep / (1.0 - self.p)

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("generator", None)
        return state


ACTIVATIONS: dict[str, type[nn.Module]] = {
    "identity": nn.Identity,
    "logistic": nn.Sigmoid,
    "tanh": nn.Tanh,
    "lecun_tanh": LeCunTanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "selu": nn.SELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "softplus": nn.Softplus,
    "gaussian": Gaussian,
}

INITS = (
    "auto",
    "lecun_normal",
    "lecun_uniform",
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "orthogonal",
    "sparse",
)

_RELU_FAMILY = ("relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "softplus")


def make_activation(name: str, width: int) -> nn.Module:
    """Return a fresh activation module (``prelu`` learns one slope per unit)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}.")
    if name == "prelu":
        return nn.PReLU(num_parameters=width)
    return ACTIVATIONS[name]()


def resolve_init(init: str, activation: str) -> str:
    """Resolve ``'auto'``: He for the ReLU family, LeCun normal for SELU, else Glorot."""
    if init not in INITS:
        raise ValueError(f"init must be one of {list(INITS)}, got {init!r}.")
    if init != "auto":
        return init
    if activation in _RELU_FAMILY:
        return "he_uniform"
    if activation == "selu":
        return "lecun_normal"
    return "glorot_uniform"


def init_linear(layer: nn.Linear, init: str) -> None:
    """Initialise ``layer.weight`` by the named scheme and zero its bias.

    Fan-based schemes: LeCun (variance ``1/fan_in``), Glorot (``2/(fan_in+fan_out)``),
    He (``2/fan_in``); uniform variants use the bound ``sqrt(3 * variance)``. 'sparse' is
    Martens (2010)'s sparse init (90% zeros per column, at least one non-zero, the rest
    N(0, 0.01)).
    """
    weight = layer.weight
    fan_out, fan_in = weight.shape
    variance = {
        "lecun": 1.0 / fan_in,
        "glorot": 2.0 / (fan_in + fan_out),
        "he": 2.0 / fan_in,
    }
    with torch.no_grad():
        if init == "orthogonal":
            nn.init.orthogonal_(weight)
        elif init == "sparse":
            # torch's sparse_ zeroes ceil(0.9 * rows) entries per column, i.e. every entry
            # of layers with <= 9 units; keep at least one non-zero weight per column.
            rows = weight.shape[0]
            n_zeros = min(math.ceil(0.9 * rows), rows - 1)
            nn.init.normal_(weight, 0.0, 0.01)
            for column in range(weight.shape[1]):
                weight[torch.randperm(rows)[:n_zeros], column] = 0.0
        else:
            family, kind = init.split("_")
            std = math.sqrt(variance[family])
            if kind == "normal":
                nn.init.normal_(weight, 0.0, std)
            else:
                bound = math.sqrt(3.0) * std
                nn.init.uniform_(weight, -bound, bound)
        if layer.bias is not None:
            layer.bias.zero_()

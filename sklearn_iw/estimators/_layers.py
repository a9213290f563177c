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


class SobolevaTanh(nn.Module):
    """Soboleva's modified hyperbolic tangent ``(e^{ax} - e^{-bx}) / (e^{cx} + e^{-dx})``.

    ``a = b = c = d`` is ``tanh(a x)``, and ``a = c, b = d`` is ``tanh((a + b) x / 2)``:
    only ``a < c`` or ``b < d`` change the shape, and ``a <= c, b <= d`` keep the function
    bounded. The defaults ``a = b = c = 1, d = 2`` (no standard set exists in the
    literature) keep tanh's slope 1 at 0 (``(a + b) / 2``) and its limit +1 on the right,
    so initialisations sized for tanh fit; on the left the function dips to -1/3 at
    ``x = -ln 2`` and returns to 0, so strongly negative units fall silent, as in the
    ReLU family, instead of saturating at -1.

    Parameters
    ----------
    a, b, c, d : float, default=1.0, 1.0, 1.0, 2.0
        The exponents' coefficients; ``c + d > 0``.
    """

    def __init__(self, a: float = 1.0, b: float = 1.0, c: float = 1.0, d: float = 2.0):
        super().__init__()
        if not c + d > 0:
            raise ValueError(f"c + d must be positive, got c={c}, d={d}.")
        self.a, self.b, self.c, self.d = a, b, c, d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Numerator and denominator divided by e^m, m the larger denominator exponent: the
        # denominator lies in [1, 2] and no exponent exceeds what the value itself needs
        # (no overflow for large |x| with a <= c, b <= d). One expression, not a where
        # over two branches, whose unused branch's inf would make the gradient NaN.
        m = torch.maximum(self.c * x, -self.d * x)
        numerator = torch.exp(self.a * x - m) - torch.exp(-self.b * x - m)
        return numerator / (torch.exp(self.c * x - m) + torch.exp(-self.d * x - m))

    def extra_repr(self) -> str:
        return f"a={self.a}, b={self.b}, c={self.c}, d={self.d}"


class Maxout(nn.Module):
    """Maxout units (Goodfellow et al., 2013): each unit is the maximum of ``pieces``
    consecutive inputs.

    It has no parameters: the pieces are the outputs of the ``nn.Linear`` before it (with
    ``pieces`` times as many outputs as units), so the Gram fast path of importance
    weights sees every trainable parameter in a plain linear layer.

    Parameters
    ----------
    pieces : int, default=2
        Linear pieces per unit; inputs ``(..., units * pieces)`` give ``(..., units)``.
    """

    def __init__(self, pieces: int = 2):
        super().__init__()
        self.pieces = pieces

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (-1, self.pieces)).amax(dim=-1)

    def extra_repr(self) -> str:
        return f"pieces={self.pieces}"


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
    "soboleva_tanh": SobolevaTanh,
    "maxout": Maxout,
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

# Not maxout: the maximum of two i.i.d. centred pieces keeps their second moment
# (E[max(z1, z2)^2] = E[z^2]), as a linear unit does, where ReLU halves it; Glorot suits it.
_RELU_FAMILY = ("relu", "leaky_relu", "prelu", "elu", "gelu", "silu", "softplus")


def make_activation(name: str, width: int, pieces: int = 2) -> nn.Module:
    """Return a fresh activation module for ``width`` units (``prelu`` learns one slope
    per unit; ``maxout`` takes ``pieces`` inputs per unit, see :func:`activation_inputs`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}.")
    if name == "prelu":
        return nn.PReLU(num_parameters=width)
    if name == "maxout":
        return Maxout(pieces)
    return ACTIVATIONS[name]()


def activation_inputs(name: str, width: int, pieces: int = 2) -> int:
    """Number of inputs ``width`` units of activation ``name`` read: ``width * pieces``
    for 'maxout', ``width`` for the others."""
    return width * pieces if name == "maxout" else width


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

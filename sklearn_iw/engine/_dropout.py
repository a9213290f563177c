"""Dropout whose masks come from the fit's own generator (set by the engine)."""

from __future__ import annotations

import torch
from torch import nn


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

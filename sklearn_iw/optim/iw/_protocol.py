"""The protocol of per-sample optimizers: what the training engine calls instead of ``step``.

A gradient optimizer sees only the gradient of the batch's mean loss. A per-sample
optimizer (importance weights) needs each sample's loss and its identity: the engine,
told by the spec's ``per_sample`` flag, calls :meth:`PerSampleOptimizer.per_sample_step`
with the module, the batch, the per-sample weights and the sample ids, and passes the
step's record, :class:`PerSampleStep`, on to its callbacks.
Nothing here knows which optimizer it is.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch


class PerSampleStep(NamedTuple):
    """The record of one :meth:`PerSampleOptimizer.per_sample_step`: what the engine hands
    to its callbacks (as ``per_sample_step`` of ``on_batch_end``), the one channel from
    a step to its observers.

    Attributes
    ----------
    losses : torch.Tensor
        The (B,) per-sample losses before the step (detached); all NaN when the step was
        not taken because the losses or their gradients were not finite.
    records : dict of str to torch.Tensor
        Per-sample results of the step, also passed to the callbacks' ``on_batch_end``
        as keyword arguments (importance weights: ``sample_alpha``).
    activity : torch.Tensor or None
        (B,) how much each sample acted on the update (importance weights: its weight
        ``a_i``; 0 where it did not act), for optimizers whose spec
        ``records_activity``; else None.
    gram : torch.Tensor or GramOperator or None
        The step's Gram matrix of the per-sample gradients, where the step has one.
    bounds : torch.Tensor or None
        (B,) the upper bounds of ``activity`` in the step.
    lr : float or None
        The factor of the step taken: ``update = -lr * sum_i activity_i g_i``.
    gradients : GramRows or None
        The step's per-sample gradients at the weights before the step, where the layers
        give them (:meth:`~sklearn_iw.solvers.GramRows.jacobian`).
    """

    losses: torch.Tensor
    records: dict[str, torch.Tensor]
    activity: torch.Tensor | None = None
    gram: object | None = None
    bounds: torch.Tensor | None = None
    lr: float | None = None
    gradients: object | None = None


class PerSampleOptimizer(torch.optim.Optimizer):
    """Base class of optimizers that step on per-sample losses.

    Subclasses implement :meth:`per_sample_step` and keep a memory indexed by sample id
    (started by :meth:`prepare_samples`, copied by :meth:`sample_memory` and
    :meth:`load_sample_memory` for checkpoints). ``step`` is not available: the engine
    calls :meth:`per_sample_step`.

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        The parameters to train.
    defaults : dict
        Hyperparameters of the parameter groups (``lr`` among them).
    """

    def per_sample_step(
        self,
        module: torch.nn.Module,
        per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        X: torch.Tensor,
        y: torch.Tensor,
        weight: torch.Tensor,
        index: torch.Tensor,
    ) -> PerSampleStep:
        """Take one step on a minibatch.

        Parameters
        ----------
        module : torch.nn.Module
            The model (its parameters are the ones this optimizer updates).
        per_sample_loss : callable
            ``per_sample_loss(output, y)`` returns the (B,) unreduced losses.
        X, y : torch.Tensor
            The minibatch.
        weight : torch.Tensor
            Per-sample weights (B,), on the scale of the estimator's ``sample_weight``.
        index : torch.Tensor
            Sample ids of the batch, keys of the per-sample memory.

        Returns
        -------
        step : PerSampleStep
        """
        raise NotImplementedError

    def step(self, closure=None):
        """Not available: per-sample optimizers are driven by :meth:`per_sample_step`."""
        raise RuntimeError(
            f"{type(self).__name__} steps on per-sample losses: call per_sample_step(), not step()."
        )

    @property
    def n_samples(self) -> int | None:
        """Number of samples the per-sample memory holds (None before it is started)."""
        memory = self.sample_memory()
        return len(next(iter(memory.values()))) if memory else None

    def prepare_samples(self, n_samples: int, device: torch.device, dtype: torch.dtype) -> None:
        """Start the per-sample memory for ``n_samples`` samples unless it holds as many
        (a continued fit on the same data keeps it).

        Parameters
        ----------
        n_samples : int
            Number of training samples (the engine's sample ids run over them).
        device : torch.device
            Device of the memory tensors.
        dtype : torch.dtype
            Floating-point dtype of the memory.
        """
        if self.n_samples != n_samples:
            self.reset_samples(n_samples, device, dtype)

    def reset_samples(self, n_samples: int, device: torch.device, dtype: torch.dtype) -> None:
        """Start the per-sample memory afresh (see :meth:`prepare_samples`).

        Parameters
        ----------
        n_samples : int
            Number of training samples.
        device : torch.device
            Device of the memory tensors.
        dtype : torch.dtype
            Floating-point dtype of the memory.
        """
        raise NotImplementedError

    def sample_memory(self) -> dict[str, torch.Tensor]:
        """Return the per-sample memory by name (tensors indexed by sample id; empty
        before it is started)."""
        raise NotImplementedError

    def load_sample_memory(self, memory: dict[str, torch.Tensor]) -> None:
        """Replace the per-sample memory by copies of ``memory``.

        Parameters
        ----------
        memory : dict of str to torch.Tensor
            Tensors indexed by sample id, as :meth:`sample_memory` returns them.
        """
        raise NotImplementedError

"""The one training engine: a skorch ``NeuralNet`` fed by in-memory tensor batches.

Every estimator of the package trains through :class:`TrainingEngine`. skorch drives the
epochs, the callbacks (early stopping, learning-rate schedules, the per-epoch log) and the
history; this module replaces skorch's ``DataLoader`` path by slicing tensors that already
live on the training device (a measured 2x on small models), weights and averages the
per-sample losses, adds the L2 penalty, and clips updates elementwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback

from ..solvers import OptimizerSpec


@dataclass
class TensorData:
    """Training or validation samples held as tensors on the training device.

    Parameters
    ----------
    X : torch.Tensor
        Inputs, first dimension indexes samples.
    y : torch.Tensor
        Encoded targets (class indices, or a 0/1 matrix for multilabel).
    weight : torch.Tensor
        Per-sample weights (sample_weight times class weight), shape (n_samples,).
    """

    X: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: torch.Tensor) -> TensorData:
        """Return the samples ``index`` (in that order) as a new :class:`TensorData`."""
        return TensorData(
            self.X.index_select(0, index), self.y.index_select(0, index), self.weight[index]
        )


@dataclass
class SplitData:
    """The training set and the optional validation set handed to skorch's fit loop."""

    train: TensorData
    valid: TensorData | None


class TensorBatches:
    """Re-iterable minibatches over a :class:`TensorData`, reshuffled at every pass.

    Parameters
    ----------
    data : TensorData
        The samples.
    batch_size : int
        Samples per batch (the last batch may be smaller).
    shuffle : bool
        Draw a new permutation of the samples at each pass (from torch's global
        generator, which the estimator seeds from ``random_state``).
    """

    def __init__(self, data: TensorData, batch_size: int, shuffle: bool):
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def __iter__(self) -> Iterator[tuple]:
        data = self.data
        n = len(data)
        device = data.y.device
        order = torch.arange(n, device=device)
        if self.shuffle and n > self.batch_size:
            # One gather per epoch makes every batch a contiguous slice (a view): cheaper
            # than gathering each batch.
            order = torch.randperm(n).to(device)
            data = data.take(order)
        for start in range(0, n, self.batch_size):
            stop = start + self.batch_size
            yield (
                data.X[start:stop],
                (
                    data.y[start:stop],
                    data.weight[start:stop],
                    order[start:stop],
                ),
            )


class ValidAccuracy(Callback):
    """Record the validation accuracy of each epoch as ``valid_acc`` in the history."""

    def on_epoch_begin(self, net, **kwargs):
        self.correct_ = 0
        self.total_ = 0

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if not training:
            target = batch[1][0]
            self.correct_ += int(net.criterion_.n_correct(y_pred, target))
            self.total_ += len(target)

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is not None and self.total_:
            net.history.record("valid_acc", self.correct_ / self.total_)


def _build_schedule(spec, n_epochs: int, optimizer, last_epoch: int = -1):
    """Adapter with the call signature skorch's ``LRScheduler`` expects of a policy."""
    return spec.build(optimizer, n_epochs, last_epoch=last_epoch)


class TrainingEngine(NeuralNet):
    """skorch ``NeuralNet`` that trains one of this package's modules.

    The estimator builds the module and the per-sample criterion, and calls
    ``partial_fit(SplitData, None, epochs=k)``. Batches are
    ``(X_batch, (y_batch, weight_batch, sample_index))``.

    Parameters
    ----------
    *args, **kwargs
        Passed to ``skorch.NeuralNet``.
    optimizer_spec : OptimizerSpec
        Builds the torch optimizer (replaces skorch's ``optimizer`` class argument).
    weight_scale : float, default=1.0
        Mean per-sample weight of the training set; a batch loss is
        ``sum(w_i * E_i) / (len(batch) * weight_scale)``, an unbiased estimate of the
        weighted mean loss that equals it on the full batch.
    l2_coef : float, default=0.0
        Coefficient ``c`` of the penalty ``c / 2 * sum ||W||^2`` over weight matrices
        (parameters with two or more dimensions; biases are not penalised).
    update_clip : float or None, default=None
        Clip every coordinate of each update to ``[-update_clip, update_clip]``.
    """

    def __init__(
        self,
        *args,
        optimizer_spec: OptimizerSpec | None = None,
        weight_scale: float = 1.0,
        l2_coef: float = 0.0,
        update_clip: float | None = None,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.optimizer_spec = optimizer_spec
        self.weight_scale = weight_scale
        self.l2_coef = l2_coef
        self.update_clip = update_clip

    def initialize_optimizer(self, triggered_directly=None):
        """Build the optimizer from ``optimizer_spec``."""
        self.optimizer_ = self.optimizer_spec.build(self.module_.parameters())
        return self

    def get_split_datasets(self, X, y=None, **fit_params):
        """Return the training and validation data the estimator prepared."""
        return X.train, X.valid

    def get_iterator(self, dataset, training=False):
        """Minibatches for training (shuffled), whole-chunk batches for validation."""
        if training:
            return TensorBatches(dataset, self.batch_size, shuffle=True)
        return TensorBatches(dataset, max(self.batch_size, 4096), shuffle=False)

    def _penalized(self) -> list[torch.Tensor]:
        return [p for p in self.module_.parameters() if p.ndim >= 2 and p.requires_grad]

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Weighted mean of the per-sample losses plus the L2 penalty.

        The penalty's value is added without a graph: its gradient ``l2_coef * W`` is
        added directly in :meth:`train_step_single`, which is cheaper than
        differentiating it.
        """
        target, weight, _ = y_true
        losses = self.criterion_(y_pred, target)
        loss = (weight * losses).sum() / (len(losses) * self.weight_scale)
        if self.l2_coef:
            with torch.no_grad():
                norms = torch._foreach_norm(self._penalized())
                penalty = 0.5 * self.l2_coef * torch.stack(norms).square().sum()
            loss = loss + penalty
        return loss

    def train_step_single(self, batch, **fit_params):
        """Forward, backward, and the L2 penalty's gradient added to the weights' grads."""
        step = super().train_step_single(batch, **fit_params)
        if self.l2_coef:
            weights = self._penalized()
            with torch.no_grad():
                torch._foreach_add_([p.grad for p in weights], weights, alpha=self.l2_coef)
        return step

    def train_step(self, batch, **fit_params):
        """One optimizer step; with ``update_clip`` the update is clipped elementwise."""
        if self.update_clip is None:
            return super().train_step(batch, **fit_params)
        params = [p for p in self.module_.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in params]
        step = super().train_step(batch, **fit_params)
        with torch.no_grad():
            for p, old in zip(params, before, strict=True):
                p.copy_(old + (p - old).clamp_(-self.update_clip, self.update_clip))
        return step

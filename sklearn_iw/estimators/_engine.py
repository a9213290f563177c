"""The one training engine: a skorch ``NeuralNet`` fed by in-memory tensor batches.

Every estimator of the package trains through :class:`TrainingEngine`. skorch drives the
epochs, the callbacks (early stopping, learning-rate schedules, the per-epoch log) and the
history; this module replaces skorch's ``DataLoader`` path by slicing tensors that already
live on the training device (a measured 2x on small models), weights and averages the
per-sample losses, adds the L2 penalty, clips updates elementwise, and rolls back to the
last finite weights when training diverges.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, LRScheduler

from ..solvers import OptimizerSpec

# Attributes rebuilt on first use or set by each fit, left out of pickles (see
# TrainingEngine.__getstate__).
_CACHES = ("_hooks_cache", "_penalized_cache", "_snapshots", "generator")
# Feature values hashed at a time by content_keys (its temporaries: 8 bytes each).
_KEY_BLOCK = 1 << 20
# Training samples whose outputs must be finite at the end of a fit (TrainingEngine).
_PROBE = 256


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijective avalanche hash of uint64 values."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def content_keys(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each sample's features and label, independent of its position.

    Keyed batches are drawn from these, so that deleting a sample from the data set leaves
    every other sample's batch unchanged. Trailing zeros of a row are not hashed: padded
    sequences keep their keys when the padding length changes with the data set. Large
    arrays are hashed in blocks of rows, so the temporaries stay small.
    """
    rows = max(1, _KEY_BLOCK // max(1, math.prod(X.shape[1:])))
    if len(X) > rows:
        blocks = range(0, len(X), rows)
        return np.concatenate([content_keys(X[i : i + rows], y[i : i + rows]) for i in blocks])
    X = np.ascontiguousarray(X).reshape(len(X), -1)
    bits = X.view(np.uint64) if X.dtype.itemsize == 8 else X.view(np.uint32).astype(np.uint64)
    labels = np.ascontiguousarray(y, dtype=np.float64).reshape(len(X), -1).view(np.uint64)
    nonzero = X != 0
    row_length = np.where(nonzero.any(axis=1), X.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 0)
    keys = np.zeros(len(X), dtype=np.uint64)
    for column in labels.T:
        keys = _mix64(keys ^ column)
    for j, column in enumerate(bits.T):
        keys = np.where(j < row_length, _mix64(keys ^ column), keys)
    return keys


def shared_tensor(array: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``array`` as a tensor on ``device``, sharing its memory where dtype and device allow.

    Read-only arrays (memory-mapped data) are shared too, without torch's warning about
    them: training never writes to its inputs.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array, dtype=dtype, device=device)


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
    key : numpy.ndarray or None, default=None
        Content hashes (:func:`content_keys`) for keyed batches, else None.
    """

    X: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor
    key: np.ndarray | None = None

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


def eval_forward(module: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Outputs of ``module`` in eval mode without gradients, in chunks of 8192 samples."""
    module.eval()
    with torch.no_grad():
        if not len(X):
            return module(X)
        return torch.cat([module(chunk) for chunk in X.split(8192)])


class TensorBatches:
    """Re-iterable minibatches over a :class:`TensorData`, reshuffled at every pass.

    Parameters
    ----------
    data : TensorData
        The samples.
    batch_size : int
        Samples per batch (the last batch may be smaller; keyed batches vary around it).
    shuffle : bool
        Draw a new order at each pass. Plain batches use a permutation drawn from
        ``generator`` (seeded by the estimator from ``random_state``). When ``data.key`` is
        set, pass ``e`` puts each sample in bucket ``floor(u * n_batches)`` with
        ``u = hash(key, seed, e)`` uniform in [0, 1): membership depends only on the
        sample's own content, so deleting a sample leaves the other batches unchanged.
    seed : int, default=0
        Seed of keyed batches.
    first_epoch : int, default=0
        Number of passes made before (continued fits draw new batches).
    generator : torch.Generator or None, default=None
        CPU generator of the plain permutations; None uses torch's global one.
    """

    def __init__(
        self,
        data: TensorData,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        first_epoch: int = 0,
        generator: torch.Generator | None = None,
    ):
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = first_epoch
        self.generator = generator

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def _keyed_order(self) -> tuple[torch.Tensor, list[int]]:
        n_batches = len(self)
        salt = _mix64(np.array([self.seed * 1_000_003 + self.epoch], dtype=np.uint64))
        unit = (_mix64(self.data.key ^ salt) >> np.uint64(11)) * 2.0**-53
        bucket = np.minimum((unit * n_batches).astype(np.int64), n_batches - 1)
        order = np.argsort(bucket, kind="stable")
        sizes = np.bincount(bucket, minlength=n_batches)
        return torch.from_numpy(order).to(self.data.y.device), sizes[sizes > 0].tolist()

    def __iter__(self) -> Iterator[tuple]:
        data = self.data
        n = len(data)
        gather = self.shuffle and (data.key is not None or n > self.batch_size)
        if gather and data.key is not None:
            order, sizes = self._keyed_order()
        elif gather:
            order, sizes = torch.randperm(n, generator=self.generator).to(data.y.device), None
        else:
            order, sizes = torch.arange(n, device=data.y.device), None
        if sizes is None:
            sizes = [min(self.batch_size, n - start) for start in range(0, n, self.batch_size)]
        self.epoch += 1
        if gather:
            # One gather per epoch makes every batch a contiguous slice (a view): cheaper
            # than gathering each batch. A single unshuffled batch needs no copy.
            data = data.take(order)
        # One split per tensor and epoch instead of four slices per batch.
        parts = [t.split(sizes) for t in (data.X, data.y, data.weight, order)]
        for X, y, weight, index in zip(*parts, strict=True):
            yield X, (y, weight, index)


class ValidAccuracy(Callback):
    """Record the validation accuracy of each epoch as ``valid_acc`` in the history."""

    def on_epoch_begin(self, net, **kwargs):
        self.correct_ = 0
        self.total_ = 0

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if not training:
            target = batch[1][0]
            self.correct_ += int(net.criterion_.correct(y_pred, target).sum())
            self.total_ += len(target)

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is not None and self.total_:
            net.history.record("valid_acc", self.correct_ / self.total_)


def _build_schedule(spec, n_epochs: int, optimizer, last_epoch: int = -1):
    """Adapter with the call signature skorch's ``LRScheduler`` expects of a policy.

    ``last_epoch`` is ignored: :class:`ContinuingLRScheduler` builds a scheduler once
    per fresh fit and continued fits keep it.
    """
    return spec.build(optimizer, n_epochs)


class ContinuingLRScheduler(LRScheduler):
    """skorch's ``LRScheduler`` that keeps its torch scheduler across continued fits.

    skorch rebuilds the scheduler at every ``on_train_begin``, which restarts SGDR cycles
    and forgets ``ReduceLROnPlateau``'s counters under ``partial_fit``/``warm_start``.
    """

    def on_train_begin(self, net, **kwargs):
        if self.lr_scheduler_ is None:
            super().on_train_begin(net, **kwargs)


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
        Mean per-sample weight of the training set, by which the weights of the batches
        have been divided (they have mean 1, so tiny weights survive float32). A batch
        loss is ``sum(w_i * E_i) / len(batch)``, an unbiased estimate of the weighted mean
        loss that equals it on the full batch; importance weights multiply the scale back
        into their bounds ``C_i = C * w_i``.
    l2_coef : float, default=0.0
        Coefficient ``c`` of the penalty ``c / 2 * sum ||W||^2`` over weight matrices
        (parameters with two or more dimensions; biases are not penalised).
    update_clip : float or None, default=None
        Clip every coordinate of each update to ``[-update_clip, update_clip]``.
    batch_seed : int, default=0
        Seed of keyed batches (importance weights).

    Attributes
    ----------
    generator : torch.Generator or None
        CPU generator of the batch order, set by the estimator for each fit (None: torch's
        global generator).
    diverged_at_ : int or None
        The epoch (counted over the whole history) in which the last ``partial_fit``
        call diverged, else None; see :meth:`partial_fit`.

    Notes
    -----
    With importance weights the step is :meth:`ImportanceWeightsOptimizer.iw_step` and
    ``l2_coef`` is a decoupled weight decay per step (``W <- (1 - lr * l2_coef) W``), so
    that it does not depend on the number of samples (the leave-one-out bound needs that).

    Pickles of a net trained on a GPU load on a CPU-only machine: skorch unpickles the
    attributes named by ``cuda_dependent_attributes_`` with a ``map_location``.
    """

    # Besides the module_, criterion_ and optimizer_ that skorch registers, the module and
    # criterion instances passed to __init__ (the same objects) and the callbacks hold
    # tensors of the training device: the scheduler references the optimizer, early
    # stopping keeps the best weights, the leave-one-out bound its per-sample counters.
    # All of them go into one pickle, which keeps the scheduler's optimizer the net's.
    cuda_dependent_attributes_ = ["module", "criterion", "callbacks"]
    generator: torch.Generator | None = None

    def __init__(
        self,
        *args,
        optimizer_spec: OptimizerSpec | None = None,
        weight_scale: float = 1.0,
        l2_coef: float = 0.0,
        update_clip: float | None = None,
        batch_seed: int = 0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.optimizer_spec = optimizer_spec
        self.weight_scale = weight_scale
        self.l2_coef = l2_coef
        self.update_clip = update_clip
        self.batch_seed = batch_seed

    def notify(self, method_name, **cb_kwargs):
        """Call ``method_name`` on the net and on the callbacks that define it.

        Callbacks that inherit skorch's no-op are skipped: per-batch hooks are called
        three times a step, and most callbacks only act at epoch boundaries.
        """
        getattr(self, method_name)(self, **cb_kwargs)
        hooks = self.__dict__.setdefault("_hooks_cache", {})
        if method_name not in hooks:
            no_op = getattr(Callback, method_name)
            hooks[method_name] = [
                getattr(callback, method_name)
                for _, callback in self.callbacks_
                if getattr(type(callback), method_name, None) is not no_op
            ]
        for hook in hooks[method_name]:
            hook(self, **cb_kwargs)

    def initialize_callbacks(self):
        """Initialise the callbacks and forget the hooks cached by :meth:`notify`."""
        self._hooks_cache = {}
        return super().initialize_callbacks()

    def __getstate__(self):
        """skorch's pickling state, without the caches (rebuilt on first use)."""
        state = super().__getstate__()
        for key in _CACHES:
            state.pop(key, None)
        return state

    def __setstate__(self, state):
        """skorch's unpickling, then the attributes torch's ``LBFGS`` keeps outside the
        optimizer state that torch pickles (without them, it cannot step again)."""
        super().__setstate__(state)
        optimizer = getattr(self, "optimizer_", None)
        if isinstance(optimizer, torch.optim.LBFGS):
            optimizer._params = optimizer.param_groups[0]["params"]
            optimizer._numel_cache = None

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """skorch's ``partial_fit``, rolled back to the last sound weights on divergence.

        Training stops at the first non-finite training loss of a batch (see
        :meth:`run_single_epoch`). The weights are restored to those the diverging epoch
        started from, or, when its very first batch failed, those of the epoch before
        (weights at which a batch loss was finite), never further back than the start of
        this call. Final weights (those of the last epoch, or early stopping's best) or
        outputs (of the first 256 training samples, in eval mode) that are not finite
        restore the start of the last epoch, or the weights restored before. Either way
        the history rows from the restored epoch on are dropped, the optimizer's state is
        cleared (its next step starts afresh) and ``diverged_at_`` is set.

        Parameters
        ----------
        X : SplitData
            The training and validation data.
        y : None
            Unused (the targets are in ``X``).
        classes : None
            Unused.
        **fit_params : dict
            Passed to skorch.

        Returns
        -------
        self : TrainingEngine
        """
        self.diverged_at_ = None
        self._snapshot_epochs = [None, None]
        super().partial_fit(X, y, classes, **fit_params)
        probe = eval_forward(self.module_, X.train.X[:_PROBE])
        if not _all_finite([*self._weights()[0], probe]):
            diverged = self.diverged_at_ is not None
            self._roll_back(self._restored_epoch if diverged else len(self.history))
        if self.diverged_at_ is not None:
            # Only now: skorch's early stopping reads the last row when training ends.
            del self.history[self._restored_epoch - 1 :]
        return self

    def _weights(self) -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
        """The module's parameters and buffers, and two snapshot copies of them (the
        starts of the current and of the previous epoch), allocated once per module."""
        cached = getattr(self, "_snapshots", None)
        if cached is None or cached[0] is not self.module_:
            live = [*self.module_.parameters(), *self.module_.buffers()]
            copies = [[t.detach().clone() for t in live] for _ in range(2)]
            cached = (self.module_, live, copies)
            self._snapshots = cached
        return cached[1], cached[2]

    def on_epoch_begin(self, net, **kwargs):
        """Start the epoch's history row and copy the weights the epoch starts from (a
        copy on the device, no host synchronisation)."""
        super().on_epoch_begin(net, **kwargs)
        live, copies = self._weights()
        epoch = len(self.history)
        with torch.no_grad():
            torch._foreach_copy_(copies[epoch % 2], live)
        self._snapshot_epochs[epoch % 2] = epoch

    def _roll_back(self, epoch: int) -> None:
        """Restore the weights epoch ``epoch`` started from, or if this call has no copy
        of them, those of its first epoch; clear the optimizer's state."""
        self.diverged_at_ = len(self.history)
        slot = epoch % 2
        if self._snapshot_epochs[slot] != epoch:
            slot = 1 - slot
        live, copies = self._weights()
        with torch.no_grad():
            torch._foreach_copy_(live, copies[slot])
        self._restored_epoch = self._snapshot_epochs[slot]
        self.optimizer_.state.clear()

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop, reading batch sizes from the target tensors directly
        (skorch's generic ``get_len`` inspects the batch's structure at every step), that
        stops training at the first non-finite training loss (see :meth:`partial_fit`)."""
        if iterator is None:
            return
        batch_count = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            loss = step["loss"].item()
            if training and not math.isfinite(loss):
                # A loss of the epoch's first batch is one at the weights it started from.
                epoch = len(self.history)
                self._roll_back(epoch if batch_count else epoch - 1)
                raise KeyboardInterrupt  # skorch's partial_fit ends training on it
            self.history.record_batch(prefix + "_loss", loss)
            self.history.record_batch(prefix + "_batch_size", len(batch[1][0]))
            self.notify("on_batch_end", batch=batch, training=training, **step)
            batch_count += 1
        self.history.record(prefix + "_batch_count", batch_count)

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
            return TensorBatches(
                dataset,
                self.batch_size,
                shuffle=True,
                seed=self.batch_seed,
                first_epoch=len(self.history),
                generator=self.generator,
            )
        return TensorBatches(dataset, max(self.batch_size, 4096), shuffle=False)

    def _penalized(self) -> list[torch.Tensor]:
        """The weight matrices (parameters with two or more dimensions), cached per module."""
        cached = getattr(self, "_penalized_cache", (None, []))
        if cached[0] is not self.module_:
            weights = [p for p in self.module_.parameters() if p.ndim >= 2 and p.requires_grad]
            cached = (self.module_, weights)
            self._penalized_cache = cached
        return cached[1]

    def _set_training(self, training=True):
        """Switch train/eval mode only when it changes (skorch switches at every step)."""
        if self.module_.training != training or self.criterion_.training != training:
            super()._set_training(training)

    def get_loss(self, y_pred, y_true, X=None, training=False):
        """Weighted mean of the per-sample losses (the L2 penalty is added by the step)."""
        target, weight, _ = y_true
        losses = self.criterion_(y_pred, target)
        return torch.dot(weight, losses) * (1.0 / len(losses))

    def train_step_single(self, batch, **fit_params):
        """Forward and backward, then the L2 penalty: its gradient ``l2_coef * W`` is added
        to the weights' gradients and its value to the loss (for closures such as L-BFGS's
        line search), both without differentiating the penalty."""
        step = super().train_step_single(batch, **fit_params)
        if self.l2_coef:
            weights = self._penalized()
            with torch.no_grad():
                torch._foreach_add_([p.grad for p in weights], weights, alpha=self.l2_coef)
                flat = torch.cat([w.reshape(-1) for w in weights])
                step["loss"] = step["loss"].detach() + 0.5 * self.l2_coef * flat.dot(flat)
        return step

    def _importance_step(self, batch) -> dict:
        """An importance-weights step, then decoupled weight decay outside the QP."""
        self._set_training(True)
        X, (target, weight, index) = batch
        outputs = []

        def per_sample_loss(output, target):
            outputs.append(output)  # the first call is the batch forward (see per_sample_gram)
            return self.criterion_(output, target)

        losses, alpha = self.optimizer_.iw_step(
            self.module_, per_sample_loss, X, target, weight * self.weight_scale, index
        )
        if self.l2_coef:
            lr = self.optimizer_.param_groups[0]["lr"]
            with torch.no_grad():
                torch._foreach_mul_(self._penalized(), 1.0 - lr * self.l2_coef)
        loss = torch.dot(weight, losses) * (1.0 / len(losses))
        # The per-sample results go to the callbacks' on_batch_end (leave-one-out records).
        return {
            "loss": loss,
            "y_pred": outputs[0].detach(),
            "sample_alpha": alpha,
        }

    def _step(self, batch, **fit_params) -> dict:
        if self.optimizer_spec.per_sample:
            return self._importance_step(batch)
        return super().train_step(batch, **fit_params)

    def train_step(self, batch, **fit_params):
        """One optimizer step; with ``update_clip`` the update is clipped elementwise."""
        if self.update_clip is None:
            return self._step(batch, **fit_params)
        params = [p for p in self.module_.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in params]
        step = self._step(batch, **fit_params)
        with torch.no_grad():
            for p, old in zip(params, before, strict=True):
                p.copy_(old + (p - old).clamp_(-self.update_clip, self.update_clip))
        return step


def _all_finite(tensors: list[torch.Tensor]) -> bool:
    """Whether no entry of ``tensors`` is NaN or infinite (one host synchronisation)."""
    return bool(torch.stack([t.isfinite().all() for t in tensors]).all())

"""The one training engine: a skorch ``NeuralNet`` fed by in-memory tensor batches.

Every estimator of the package trains through :class:`TrainingEngine`. skorch drives the
epochs, the callbacks (early stopping, learning-rate schedules, the per-epoch log) and the
history; this module feeds it batches sliced from tensors on the training device
(``_data.py``), weights and averages the per-sample losses, adds the L2 penalty, clips
updates (elementwise and by their norm), and rolls back to the last finite weights when
training diverges. It never names an optimizer: a spec's flags say whether the optimizer
steps on per-sample losses, how it takes the L2 penalty and whether it differentiates the
objective itself.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from sklearn.utils.metaestimators import available_if
from skorch import NeuralNet
from skorch.callbacks import Callback
from skorch.dataset import unpack_data
from skorch.utils import to_numpy

from ..optim._spec import OptimizerSpec
from ..utils._numerics import all_finite
from ._data import TensorBatches, TensorData, eval_forward
from ._dropout import SeededDropout
from ._losses import PROBA_LOSSES

# Attributes rebuilt on first use or set by each fit, left out of pickles (see
# TrainingEngine.__getstate__).
_CACHES = ("_hooks_cache", "_penalized_cache", "_snapshots", "feed_")
# Training samples whose outputs must be finite at the end of a fit (TrainingEngine).
_PROBE = 256
# Smallest batch of validation and prediction passes (no step between their batches).
_EVAL_BATCH = 4096


class BatchTargets(tuple):
    """A batch's ``(target, weight, index)``, which as an array is the targets alone.

    skorch's scoring callbacks collect each batch's ``y`` with ``to_numpy`` (which keeps
    the tuple) and concatenate them: so they score against the encoded targets.
    """

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(to_numpy(self[0]), dtype=dtype)


class TrainingEngine(NeuralNet):
    """skorch ``NeuralNet`` that trains one of this package's modules.

    The estimator builds the module, the per-sample criterion and the engine, then calls
    ``partial_fit(feed, None, epochs=k)`` with a :class:`~._data.Feed` per fit call.
    Batches are ``(X_batch, (y_batch, weight_batch, sample_index))``, the pair a
    :class:`BatchTargets`.

    Parameters
    ----------
    *args, **kwargs
        Passed to ``skorch.NeuralNet``.
    optimizer_spec : OptimizerSpec
        Builds the torch optimizer (replaces skorch's ``optimizer`` class argument). Its
        flags drive the step: ``per_sample`` optimizers get the per-sample losses through
        ``per_sample_step`` (see :class:`~sklearn_iw.solvers.PerSampleOptimizer`),
        ``decoupled_weight_decay`` ones take the L2 penalty as a decay per step, and
        ``needs_graph`` ones get a closure that returns the objective with its graph.
    update_clip : float or None, default=None
        Clip every coordinate of each update to ``[-update_clip, update_clip]``.
    clip_norm : float or None, default=None
        Scale each update (after ``update_clip``) to an L2 norm over all trainable
        parameters of at most ``clip_norm``.
    batch_seed : int, default=0
        Seed of keyed batches.

    Attributes
    ----------
    feed_ : Feed
        The data and feeding of the current ``partial_fit`` call.
    diverged_at_ : int or None
        The epoch (counted over the whole history) in which the last ``partial_fit``
        call diverged, else None; see :meth:`partial_fit`.
    stop_requested_ : bool
        Set by a callback (the stopping rule) in ``on_epoch_end`` to end training once
        every callback has seen the epoch.

    Notes
    -----
    Pickles of a net trained on a GPU load on a CPU-only machine: skorch unpickles the
    attributes named by ``cuda_dependent_attributes_`` with a ``map_location``.
    """

    # Besides the module_, criterion_ and optimizer_ that skorch registers, the module and
    # criterion instances passed to __init__ (the same objects) and the callbacks hold
    # tensors of the training device: the scheduler references the optimizer, early
    # stopping keeps the best weights, the leave-one-out bound its per-sample counters.
    # All of them go into one pickle, which keeps the scheduler's optimizer the net's.
    cuda_dependent_attributes_ = ["module", "criterion", "callbacks"]

    def __init__(
        self,
        *args,
        optimizer_spec: OptimizerSpec | None = None,
        update_clip: float | None = None,
        clip_norm: float | None = None,
        batch_seed: int = 0,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.optimizer_spec = optimizer_spec
        self.update_clip = update_clip
        self.clip_norm = clip_norm
        self.batch_seed = batch_seed

    def notify(self, method_name, **cb_kwargs):
        """Call ``method_name`` on the net and on the callbacks that define it.

        Callbacks that inherit skorch's no-op are skipped: per-batch hooks are called
        three times a step, and most callbacks only act at epoch boundaries. After
        ``on_epoch_end`` training ends if a callback set ``stop_requested_``.
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
        if method_name == "on_epoch_end" and self.stop_requested_:
            # After every callback has seen the epoch (skorch's partial_fit ends on it).
            raise KeyboardInterrupt

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

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """skorch's ``partial_fit`` over ``X``, a :class:`~._data.Feed`, rolled back to the
        last sound weights on divergence.

        The feed's dropout generator goes to the module's seeded dropout layers, and a
        per-sample optimizer's memory is started for the training samples (kept when a
        continued fit has as many).

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
        X : Feed
            The training and validation data, and how to feed them.
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
        self.feed_ = X
        for layer in self.module_.modules():
            if isinstance(layer, SeededDropout):
                layer.generator = X.dropout_generator
        if self.optimizer_spec.per_sample:
            train = X.train
            self.optimizer_.prepare_samples(len(train), train.weight.device, train.weight.dtype)
        # skorch's ProgressBar counts an epoch's batches by these.
        self.batch_size = X.batch_size
        self.iterator_valid__batch_size = max(X.batch_size, _EVAL_BATCH)
        self.diverged_at_ = None
        self.stop_requested_ = False
        self._snapshot_epochs = [None, None]
        super().partial_fit(X, y, classes, **fit_params)
        probe = eval_forward(self.module_, X.train.X[:_PROBE])
        if not all_finite([*self._weights()[0], probe]):
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
        for X, y in iterator:
            batch = (X, BatchTargets(y))
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

    def get_dataset(self, dataset, y=None):
        """A :class:`~._data.TensorData` as it is (scoring callbacks predict on the
        epoch's data), else skorch's dataset."""
        if isinstance(dataset, TensorData):
            return dataset
        return super().get_dataset(dataset, y)

    def get_iterator(self, dataset, training=False):
        """Minibatches for training (shuffled), whole-chunk batches for validation."""
        if training:
            return TensorBatches(
                dataset,
                self.batch_size,
                shuffle=True,
                seed=self.batch_seed,
                first_epoch=len(self.history),
                generator=self.feed_.generator,
            )
        return TensorBatches(dataset, self.iterator_valid__batch_size, shuffle=False)

    # What skorch's scoring callbacks call, with the epoch's data (or, by default, the
    # outputs of its batches): predictions in the encoding of the targets they get.
    def _outputs(self, X) -> torch.Tensor:
        return torch.cat(list(self.forward_iter(X, training=False)))

    def predict(self, X):
        """Encoded predictions: class indices (a 0/1 matrix for multilabel targets), or
        the predicted values of regressors."""
        return to_numpy(self.criterion_.predict(self._outputs(X)))

    @available_if(lambda self: getattr(self.criterion, "loss", None) in PROBA_LOSSES)
    def predict_proba(self, X):
        """Probabilities of the class indices (of each label for multilabel targets)."""
        return to_numpy(self.criterion_.proba(self._outputs(X)))

    @available_if(lambda self: hasattr(self.criterion, "decision"))
    def decision_function(self, X):
        """Decision values of classifiers: (n,) for binary targets, one per class else."""
        return to_numpy(self.criterion_.decision(self._outputs(X)))

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
        line search), both without differentiating the penalty. (Optimizers with a
        decoupled weight decay take the penalty in :meth:`_step` instead; those that
        ``needs_graph`` get :meth:`_objective_with_graph`.)"""
        if self.optimizer_spec.needs_graph:
            return self._objective_with_graph(batch, **fit_params)
        step = super().train_step_single(batch, **fit_params)
        l2_coef = 0.0 if self.optimizer_spec.decoupled_weight_decay else self.feed_.l2_coef
        if l2_coef:
            weights = self._penalized()
            with torch.no_grad():
                torch._foreach_add_([p.grad for p in weights], weights, alpha=l2_coef)
                flat = torch.cat([w.reshape(-1) for w in weights])
                step["loss"] = step["loss"].detach() + 0.5 * l2_coef * flat.dot(flat)
        return step

    def _objective_with_graph(self, batch, **fit_params) -> dict:
        """The training objective with its autograd graph, L2 penalty included, and no
        backward: the optimizer differentiates it (twice, for Hessian-vector products)."""
        self._set_training(True)
        Xi, yi = unpack_data(batch)
        # cuDNN's fused RNN kernels have no double backward; torch's own kernels do.
        with torch.backends.cudnn.flags(enabled=False):
            y_pred = self.infer(Xi, **fit_params)
        loss = self.get_loss(y_pred, yi, X=Xi, training=True)
        weights = self._penalized()
        if self.feed_.l2_coef and weights:
            penalty = torch.stack([w.square().sum() for w in weights]).sum()
            loss = loss + 0.5 * self.feed_.l2_coef * penalty
        return {"loss": loss, "y_pred": y_pred}

    def _per_sample_step(self, batch) -> dict:
        """A step of a per-sample optimizer on the batch's per-sample losses."""
        self._set_training(True)
        X, (target, weight, index) = batch
        outputs = []

        def per_sample_loss(output, target):
            outputs.append(output)  # the first call is the batch forward (see per_sample_gram)
            return self.criterion_(output, target)

        step = self.optimizer_.per_sample_step(
            self.module_, per_sample_loss, X, target, weight * self.feed_.weight_scale, index
        )
        loss = torch.dot(weight, step.losses) * (1.0 / len(step.losses))
        # The step's record goes to the callbacks' on_batch_end (the leave-one-out
        # recorder and the stopping rule read it), its per-sample records also by name.
        return {
            "loss": loss,
            "y_pred": outputs[0].detach(),
            "per_sample_step": step,
            **step.records,
        }

    def _step(self, batch, **fit_params) -> dict:
        spec = self.optimizer_spec
        step = (
            self._per_sample_step(batch)
            if spec.per_sample
            else super().train_step(batch, **fit_params)
        )
        l2_coef = self.feed_.l2_coef
        if spec.decoupled_weight_decay and l2_coef:
            lr = self.optimizer_.param_groups[0]["lr"]
            with torch.no_grad():
                # The penalty's proximal step: 1 - lr * c to first order, and a shrink
                # for any lr * c (1 - lr * c flips and grows the weights past 2).
                torch._foreach_mul_(self._penalized(), 1.0 / (1.0 + lr * l2_coef))
        return step

    def train_step(self, batch, **fit_params):
        """One optimizer step; with ``update_clip`` the update is clipped elementwise,
        then with ``clip_norm`` scaled to that L2 norm at most.

        The clips act on the update the step made (``new - old`` weights), whatever
        computed it, so they hold for every optimizer. The optimizer's own state (momenta,
        previous steps) keeps the unclipped update it computed.
        """
        if self.update_clip is None and self.clip_norm is None:
            return self._step(batch, **fit_params)
        params = [p for p in self.module_.parameters() if p.requires_grad]
        before = [p.detach().clone() for p in params]
        step = self._step(batch, **fit_params)
        with torch.no_grad():
            updates = torch._foreach_sub([p.detach() for p in params], before)
            if self.update_clip is not None:
                torch._foreach_clamp_min_(updates, -self.update_clip)
                torch._foreach_clamp_max_(updates, self.update_clip)
            if self.clip_norm is not None:
                norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(updates)))
                # A factor of exactly 1 when within the bound (no host synchronisation).
                scale = (self.clip_norm / norm).clamp_(max=1.0)
                torch._foreach_mul_(updates, scale)
            torch._foreach_add_(before, updates)
            torch._foreach_copy_(params, before)
        return step

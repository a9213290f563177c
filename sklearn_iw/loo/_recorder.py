"""What a run records for leave-one-out: the engine callback, checkpoints, resuming.

:class:`LeaveOneOutRecorder` records per step what the bound, the estimate and the replay
need (activation epochs, each sample's span self-influence and pull, the bound per epoch, the
stopping rule of every run without one sample); :class:`Checkpoint` is the state of a run
at the start of an epoch and :class:`ResumeFrom` resumes a fit from one.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace

import torch
from skorch.callbacks import Callback
from skorch.history import History

from ..engine._data import TensorData, eval_forward
from ..utils._numerics import NUMERICAL_ERRORS, failure_reason, is_numerical
from ._influence import (
    InfluenceAccumulator,
    loss_gradient_scale,
    margins,
    span_self_influence,
)
from ._validity import MAX_ACTIVE_FOR_ESTIMATE


@dataclass
class Checkpoint:
    """Everything a run depends on at the start of one epoch.

    Attributes
    ----------
    epoch : int
        Epochs completed before this state.
    module : dict
        The module's ``state_dict``.
    optimizer : dict
        The optimizer's ``state_dict``.
    sample_memory : dict of str to torch.Tensor
        The optimizer's per-sample memory (importance weights for warm starts, ...).
    scheduler : dict or None
        The learning-rate scheduler's ``state_dict``.
    generator : torch.Tensor or None
        State of the CPU generator of the batch order.
    history : list of dict
        The history rows of the epochs before.
    seed : int
        The seed of the run (of its batches, dropout masks and validation split).
    stopping : dict
        The stopping rule's state (:meth:`~sklearn_iw.engine._stopping.EpochStopping.state_dict`):
        ``rule``, entry k the run without sample k and the last entry the full run, and
        ``sample_losses``, each sample's loss at its last visit.
    """

    epoch: int
    module: dict
    optimizer: dict
    sample_memory: dict
    scheduler: dict | None
    generator: torch.Tensor | None
    history: list
    seed: int
    stopping: dict

    def without(self, k: int) -> Checkpoint:
        """This state as the run without sample ``k`` has it (which equals the full run's
        in all but k's memory and the stopping rule, while k was never active)."""
        rule = {
            name: torch.cat([_drop(t[:-1], k), t[k : k + 1]])
            for name, t in self.stopping["rule"].items()
        }
        stopping = {"rule": rule, "sample_losses": _drop(self.stopping["sample_losses"], k)}
        memory = {name: _drop(t, k) for name, t in self.sample_memory.items()}
        return replace(self, sample_memory=memory, stopping=stopping)


def _drop(t: torch.Tensor, k: int) -> torch.Tensor:
    """``t`` without entry ``k``."""
    return torch.cat([t[:k], t[k + 1 :]])


def _stand_in(data: TensorData) -> torch.Tensor:
    """Each sample's leave-one-out stand-in (:func:`~._data.sample_keys`): the run without
    sample k is the run without ``stand_in[k]``, which the per-sample records describe."""
    if data.stand_in is None:
        return torch.arange(len(data), device=data.y.device)
    return torch.as_tensor(data.stand_in, device=data.y.device)


def _scheduler_of(net):
    return getattr(dict(net.callbacks_).get("lr_schedule"), "lr_scheduler_", None)


def _capture(net) -> Checkpoint:
    """The state of ``net`` now (deep copies)."""
    scheduler = _scheduler_of(net)
    return Checkpoint(
        epoch=len(net.history),
        module=copy.deepcopy(net.module_.state_dict()),
        optimizer=copy.deepcopy(net.optimizer_.state_dict()),
        sample_memory={k: v.clone() for k, v in net.optimizer_.sample_memory().items()},
        scheduler=copy.deepcopy(scheduler.state_dict()) if scheduler is not None else None,
        generator=net.feed_.generator.get_state() if net.feed_.generator is not None else None,
        # Rows of finished epochs are not changed again: shared, copied on resume.
        history=list(net.history),
        seed=net.batch_seed,
        stopping=dict(net.callbacks_)["stopping"].state_dict(),
    )


class LeaveOneOutRecorder(Callback):
    """Record what the leave-one-out quantities of an importance-weights run need.

    Per sample: the epoch of its first activation (``alpha > 0``) and the sums of its
    influence over the steps where it was active (:class:`InfluenceAccumulator`), from
    each step's record (:class:`~sklearn_iw.solvers.PerSampleStep`).
    Per epoch: the bound
    ``loo_bound = |A ∪ W ∪ U| / n`` (``A`` the samples active so far, ``W`` those the
    current model misclassifies, ``U`` those whose removal moves the epoch at which
    training stops) in the history, and, when asked, a :class:`Checkpoint` for replays.

    The stopping rule (:class:`~sklearn_iw.engine._stopping.EpochStopping`) follows
    every run without one sample ``k`` too: the bound counts the samples whose run stops
    at another epoch than the full run.

    Parameters
    ----------
    checkpoints : bool, default=False
        Keep a :class:`Checkpoint` at the start of every epoch and after the last one.

    Attributes
    ----------
    activation_epoch_ : torch.Tensor
        (n,) epoch of each sample's first activation, -1 if never (kept across continued
        fits while the number of samples stays).
    last_activity_ : torch.Tensor
        (n,) each sample's activity (importance weight) at its last visit (kept as
        ``activation_epoch_``).
    checkpoints_ : dict of int to Checkpoint
        By epoch, with ``checkpoints=True``.
    failures_ : dict of str to str
        The quantities ('bound', 'estimate', 'replay') whose recording raised a
        numerical error in this training call, with the reason (:func:`failure_reason`);
        they are NaN for the fit.
    influence_ : InfluenceAccumulator
        The per-step sums behind ``loo_estimate_`` (over this training call).
    n_active_ : int
        The samples active at some step so far (counted step by step while the
        estimate's records are kept, else at each epoch's end).
    too_many_active_ : bool
        Whether more than :data:`MAX_ACTIVE_FOR_ESTIMATE` samples have been active (the
        estimate is then NaN, and its per-step records are no longer kept, from the step
        where the count passed it).
    stand_in_ : torch.Tensor
        (n,) each sample's leave-one-out stand-in (:func:`~._data.sample_keys`): the run
        without sample k is the run without ``stand_in_[k]``, whose records the
        leave-one-out quantities of k read.
    steps_ : list of tuple
        The importance-weights steps of the current epoch not yet added to
        ``activation_epoch_`` and ``influence_`` (sample indices, importance weights, span
        self-influence, factor, outputs, targets).
    """

    def __init__(self, checkpoints: bool = False):
        self.checkpoints = checkpoints

    def on_train_begin(self, net, X=None, **kwargs):
        train = X.train  # the engine's Feed
        n = len(train)
        device = train.y.device
        if len(getattr(self, "activation_epoch_", ())) != n:
            self.activation_epoch_ = torch.full((n,), -1, dtype=torch.long, device=device)
            self.last_activity_ = torch.zeros(n, dtype=train.weight.dtype, device=device)
        self.checkpoints_ = {}
        self.failures_ = {}
        self.influence_ = InfluenceAccumulator(n, train.weight.dtype, device)
        self.steps_ = []
        self.stand_in_ = _stand_in(train)
        self._count_active()
        # Other optimizers record no per-sample activity: nothing to record.
        self.recording_ = net.optimizer_spec.records_activity
        self.first_epoch_ = len(net.history)

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1 - self.first_epoch_  # skorch opened its row
        has_margins = net.criterion_.has_margins
        if self.recording_ and has_margins and epoch & (epoch - 1) == 0:
            # Segments of epochs 0, 1, 2, 4, 8, ...: the weights of each segment's start
            # turn its pull to the final gradient directions (the estimate).
            self.influence_.start_segment(p for p in net.module_.parameters() if p.requires_grad)
        if self.checkpoints and self.recording_:
            # skorch has opened this epoch's history row: the state is the previous end's.
            state = _capture(net)
            state.history = state.history[:-1]
            state.epoch -= 1
            self.checkpoints_[state.epoch] = state

    def on_batch_end(
        self, net, batch=None, training=False, y_pred=None, per_sample_step=None, **kwargs
    ):
        if not training or not self.recording_ or per_sample_step is None:
            return
        target, _, index = batch[1]
        step = per_sample_step
        span = None
        if self._estimate_in_reach(net):
            self._count_first_activity(index, step.activity)
            self.influence_.add_pulls(index, step.activity, step.lr, step.gradients)
            try:
                span = span_self_influence(step.gram, step.activity, step.bounds)
            except NUMERICAL_ERRORS as exc:
                if not is_numerical(exc):
                    raise
                self._fail(("estimate",), "the span self-influence of a step", exc)
        # Summed once an epoch (:meth:`_record_steps`): per step, the margins and sums
        # took more tensor operations than a small importance-weights step itself.
        self.steps_.append((index, step.activity, span, step.lr, y_pred, target))

    def _record_steps(self, net) -> None:
        """Add the steps kept since the last call to the activation epochs and the sums
        of ``influence_``."""
        if not self.steps_:
            return
        index, alphas, span, lr, output, target = zip(*self.steps_, strict=True)
        self.steps_ = []
        index, alpha = torch.cat(index), torch.cat(alphas)
        self.last_activity_[index] = alpha  # one visit per sample and epoch
        active = index[alpha > 0]
        first = self.activation_epoch_[active]
        self.activation_epoch_[active] = torch.where(first < 0, len(net.history) - 1, first)
        self._count_active()
        # Once a step's span failed, or too many samples were active, the estimate is NaN:
        # its sums are not needed.
        if span[0] is not None and self._estimate_in_reach(net):
            try:
                lr = torch.cat([torch.full_like(a, r) for a, r in zip(alphas, lr, strict=True)])
                output, target = torch.cat(output), torch.cat(target)
                regression = net.criterion_.regression
                _, margin_per_loss = margins(output, target, net.criterion_, regression)
                gradient_norm, curvature = loss_gradient_scale(output, target, net.criterion_)
                self.influence_.update(
                    index, alpha, torch.cat(span), lr, margin_per_loss, gradient_norm, curvature
                )
            except NUMERICAL_ERRORS as exc:
                if not is_numerical(exc):
                    raise
                self._fail(("estimate",), "the estimate's influence sums", exc)

    def _count_active(self) -> None:
        """Note whether more samples have been active than the estimate can take (once
        true it stays: samples never become inactive again)."""
        self.n_active_ = int((self.activation_epoch_ >= 0).sum())
        self.too_many_active_ = self.n_active_ > MAX_ACTIVE_FOR_ESTIMATE

    def _count_first_activity(self, index: torch.Tensor, activity: torch.Tensor) -> None:
        """Add the samples of a step active for the first time to the count, so that a
        large fit stops the estimate's per-step records within its first epoch rather
        than at its end (at 200,000 rows: a tenth of the epoch's time). Each sample is
        visited once an epoch, so none is counted twice before the epoch's records
        update ``activation_epoch_``."""
        first = (activity > 0) & (self.activation_epoch_.index_select(0, index) < 0)
        self.n_active_ += int(first.sum())
        self.too_many_active_ = self.n_active_ > MAX_ACTIVE_FOR_ESTIMATE

    def _estimate_in_reach(self, net) -> bool:
        """Whether the estimate's per-step records are still needed: its task has them,
        none failed, and not more samples were active than it takes (then its per-step
        spans and pulls would cost a tenth of a large fit's steps for a NaN)."""
        return (
            net.criterion_.has_margins
            and "estimate" not in self.failures_
            and not self.too_many_active_
        )

    def _fail(
        self, quantities: tuple[str, ...], what: str, exc: BaseException | None = None
    ) -> None:
        """Record that ``what``, which ``quantities`` need, raised ``exc`` (or, without
        ``exc``, the reason ``what``); the first failure of a quantity is its reason."""
        reason = what if exc is None else failure_reason(what, exc)
        for quantity in quantities:
            self.failures_.setdefault(quantity, reason)

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        self._record_steps(net)
        if not self.recording_ or not net.criterion_.counts_errors:
            return
        epoch = len(net.history) - 1
        bound = math.nan  # once a failure made it NaN
        stopping = dict(net.callbacks_)["stopping"]
        if stopping.failure_ is not None:
            # The stopping rule of the runs without one sample serves the bound and the
            # replay.
            self._fail(("bound", "replay"), stopping.failure_)
        if "replay" not in self.failures_ and "bound" not in self.failures_:
            try:
                bound = self.bound(net, dataset_train)
            except NUMERICAL_ERRORS as exc:
                if not is_numerical(exc):
                    raise
                self._fail(("bound",), f"the bound's count in epoch {epoch}", exc)
        net.history.record("loo_bound", bound)

    def bound(self, net, data: TensorData) -> float:
        """The bound at the module's weights: the share of samples that are misclassified
        or whose removal changes the run (active so far, or its run without them stops
        at another epoch or keeps another epoch's weights)."""
        rule = dict(net.callbacks_)["stopping"].rule_
        unstable = (rule.stopped_at[:-1] != rule.stopped_at[-1]) | (
            rule.lowest_epoch[:-1] != rule.lowest_epoch[-1]
        )
        hit = net.criterion_.correct(eval_forward(net.module_, data.X), data.y)
        counted = ((self.activation_epoch_ >= 0) | unstable)[self.stand_in_] | ~hit
        return int(counted.sum()) / len(counted)

    def on_train_end(self, net, **kwargs):
        self._record_steps(net)  # after an interrupted epoch
        if self.checkpoints and self.recording_:
            state = _capture(net)
            self.checkpoints_[state.epoch] = state


class ResumeFrom(Callback):
    """Start a run from a :class:`Checkpoint` (of the run without one sample): restores
    the weights, the optimizer, the schedule, the batch order, the history and the
    stopping rule after the other callbacks have set themselves up.

    Parameters
    ----------
    checkpoint : Checkpoint
        The state to start from, already without the left-out sample.
    """

    def __init__(self, checkpoint: Checkpoint):
        self.checkpoint = checkpoint

    def on_train_begin(self, net, **kwargs):
        state = self.checkpoint
        net.module_.load_state_dict(state.module)
        net.optimizer_.load_state_dict(copy.deepcopy(state.optimizer))
        net.optimizer_.load_sample_memory(state.sample_memory)
        scheduler = _scheduler_of(net)
        if scheduler is not None and state.scheduler is not None:
            scheduler.load_state_dict(copy.deepcopy(state.scheduler))
        generator = net.feed_.generator
        if generator is not None and state.generator is not None:
            generator.set_state(state.generator)
        net.history = History(copy.deepcopy(state.history))
        callbacks = dict(net.callbacks_)
        callbacks["stopping"].load_state_dict(state.stopping)
        recorder = callbacks["loo"]
        recorder.activation_epoch_.fill_(-1)
        # A replay serves the exact leave-one-out, never an estimate: no pull vectors.
        recorder.influence_.has_pull_vectors = False

"""Leave-one-out of importance-weights training: bookkeeping, validity, bound, estimate, replay.

Everything the package computes about leave-one-out lives here (DESIGN section 3). The
lemma behind all of it: removing a sample that was never active (importance weight 0 at
every step) changes no iterate, as long as samples do not interact except through the QP.
Three quantities follow:

- the **bound** ``loo_bound_`` (rigorous, loose): active samples plus the training errors
  among the others, over n;
- the **replay** :func:`leave_one_out` (exact): the run without sample k equals the full
  run up to k's first activation, so only ever-active samples are re-run, each from a
  checkpoint taken at the start of the epoch it was first active in;
- the **estimate** ``loo_estimate_`` (approximate, cheap): a span self-influence summed
  over the steps where each sample was active and a jackknife at the end of training
  (:mod:`sklearn_iw.solvers._influence`); never-active samples are exact.

:class:`LeaveOneOutRecorder` is the engine callback that records what all three need;
:func:`lemma_obstacle` says why the lemma cannot hold for a fit; :func:`record_attributes`
sets the fitted attributes.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass, replace

import numpy as np
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils.parallel import Parallel, delayed
from skorch.callbacks import Callback
from skorch.history import History
from torch import nn

from ..solvers._influence import (
    InfluenceAccumulator,
    estimate_obstacle,
    loo_margins,
    loss_gradient_scale,
    margins,
    span_self_influence,
)
from ._data import TensorData, eval_forward

NOT_IMPORTANCE_WEIGHTS = "the optimizer is not 'importance_weights'"
NOT_CLASSIFICATION = (
    "the bound counts misclassified samples: it is defined for classifiers only "
    "(loo_estimate_ estimates the leave-one-out squared error, leave_one_out replays "
    "exact predictions)"
)
# The tasks whose errors the bound counts, and those with a margin for the estimate
# (a regression's is minus its residual norm: see solvers._influence.margins).
_BOUND_TASKS = ("binary", "multiclass", "multilabel")
_MARGIN_TASKS = ("binary", "multiclass", "regression")
# The estimate's jackknife factors an |A| x |A| matrix of the ever-active samples: beyond
# this many (128 MiB in float64) it is not computed.
MAX_ACTIVE_FOR_ESTIMATE = 4096
# What the computation of a leave-one-out quantity raises on numbers it cannot handle
# (a factorisation of an ill-conditioned matrix under extreme class weights, overflow,
# non-finite values): the quantity becomes NaN with the error as its reason, and the fit
# goes on. torch raises RuntimeError (LinAlgError among them), numpy and scipy ValueError
# (LinAlgError among them) or FloatingPointError. Other exceptions are bugs and propagate.
NUMERICAL_ERRORS = (
    np.linalg.LinAlgError,
    torch.linalg.LinAlgError,
    FloatingPointError,
    ValueError,
    RuntimeError,
)
_LINALG_ERRORS = (np.linalg.LinAlgError, torch.linalg.LinAlgError)
# RuntimeErrors that say nothing about the numbers.
_NOT_NUMERICAL = (NotImplementedError, RecursionError)


def _is_numerical(exc: BaseException) -> bool:
    """Whether ``exc`` (one of :data:`NUMERICAL_ERRORS`) is a numerical failure."""
    return isinstance(exc, NUMERICAL_ERRORS) and not isinstance(exc, _NOT_NUMERICAL)


def failure_reason(what: str, exc: BaseException) -> str:
    """The ``loo_reason_`` clause of a quantity whose computation raised ``exc``.

    Parameters
    ----------
    what : str
        What failed, e.g. "the estimate's computation".
    exc : BaseException
        The error.

    Returns
    -------
    reason : str
        ``"<what> failed: <message>"`` on one line, without a final period.
    """
    message = " ".join(str(exc).split()).rstrip(".") or type(exc).__name__
    return f"{what} failed: {message}"


def lemma_obstacle(estimator, incremental: bool, n_train: int) -> str | None:
    """Why removing a never-active sample could change the run of ``estimator``'s last
    fit, or None where the leave-one-out lemma holds.

    Parameters
    ----------
    estimator : BaseIWEstimator
        The estimator, right after its fit (``net_`` set).
    incremental : bool
        Whether the fit continued an earlier one.
    n_train : int
        Number of training samples.

    Returns
    -------
    reason : str or None
        A clause that completes "... is NaN: ", or None.
    """
    net = estimator.net_
    if not net.optimizer_spec.per_sample:
        return NOT_IMPORTANCE_WEIGHTS
    if net.diverged_at_ is not None:
        return "training diverged and was rolled back to earlier weights"
    if estimator.early_stopping:
        return "early_stopping holds out a validation split that depends on every sample"
    if isinstance(getattr(estimator, "class_weight", None), str):
        return "class_weight='balanced' depends on the class counts of every sample"
    if estimator._resolve_schedule(net.optimizer_spec).name == "plateau":
        return "the 'plateau' schedule reacts to the training loss of every sample"
    own = estimator._lemma_obstacle()
    if own is not None:
        return own
    if incremental:
        return "training continued from an earlier fit (partial_fit or warm_start)"
    if any(isinstance(m, nn.Dropout) and m.p > 0 for m in net.module_.modules()):
        return "dropout masks are drawn per batch, not keyed by sample"
    batch = net.feed_.batch_size
    if -(-n_train // batch) != -(-(n_train - 1) // batch):
        return (
            f"with {n_train} samples and batches of {batch}, removing one sample changes "
            "the number of batches"
        )
    return None


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
    stopping : dict of str to torch.Tensor
        The stopping rule of every run without one sample (``best``, ``misses``,
        ``stopped_at``: entry k is the run without sample k, the last entry the full run).
    """

    epoch: int
    module: dict
    optimizer: dict
    sample_memory: dict
    scheduler: dict | None
    generator: torch.Tensor | None
    history: list
    stopping: dict

    def without(self, k: int) -> Checkpoint:
        """This state as the run without sample ``k`` has it (which equals the full run's
        in all but k's memory and the stopping rule, while k was never active)."""
        stopping = {
            name: torch.cat([_drop(t[:-1], k), t[k : k + 1]]) for name, t in self.stopping.items()
        }
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


def _capture(net, stopping: dict) -> Checkpoint:
    """The state of ``net`` now (deep copies), with the replayed stopping rule."""
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
        stopping={k: v.clone() for k, v in stopping.items()},
    )


class LeaveOneOutRecorder(Callback):
    """Record what the leave-one-out quantities of an importance-weights run need.

    Per sample: the epoch of its first activation (``alpha > 0``), the stopping rule of
    the run without it (from the optimizer's record of its last loss), and the sums of
    its influence over the steps where it was active (:class:`InfluenceAccumulator`).
    Per epoch: the bound
    ``loo_bound = |A ∪ W ∪ U| / n`` (``A`` the samples active so far, ``W`` those the
    current model misclassifies, ``U`` those whose removal moves the epoch at which
    training stops) in the history, and, when asked, a :class:`Checkpoint` for replays.

    The stopping rule (skorch's ``EarlyStopping`` on ``train_loss``, absolute threshold
    ``tol``, ``patience`` epochs) is replayed for every run without one sample ``k``:
    while ``k`` was never active that run's epoch loss is ``(S - w_k E_k) / (W - w_k)``.

    Parameters
    ----------
    patience : int
        Epochs without improvement before training stops.
    tol : float
        Improvement that resets the patience counter.
    checkpoints : bool, default=False
        Keep a :class:`Checkpoint` at the start of every epoch and after the last one.

    Attributes
    ----------
    activation_epoch_ : torch.Tensor
        (n,) epoch of each sample's first activation, -1 if never (kept across continued
        fits while the number of samples stays).
    stopping_ : dict of str to torch.Tensor
        The replayed stopping rule: ``best`` (threshold), ``misses`` and ``stopped_at``
        (epoch, -1 while running), entry k for the run without sample k, last entry the
        full run.
    checkpoints_ : dict of int to Checkpoint
        By epoch, with ``checkpoints=True``.
    failures_ : dict of str to str
        The quantities ('bound', 'estimate', 'replay') whose recording raised a
        numerical error in this training call, with the reason (:func:`failure_reason`);
        they are NaN for the fit.
    influence_ : InfluenceAccumulator
        The per-step sums behind ``loo_estimate_`` (over this training call).
    too_many_active_ : bool
        Whether more than :data:`MAX_ACTIVE_FOR_ESTIMATE` samples have been active (the
        estimate is then NaN, and its per-step records are no longer kept).
    stand_in_ : torch.Tensor
        (n,) each sample's leave-one-out stand-in (:func:`~._data.sample_keys`): the run
        without sample k is the run without ``stand_in_[k]``, whose records the
        leave-one-out quantities of k read.
    steps_ : list of tuple
        The importance-weights steps of the current epoch not yet added to
        ``activation_epoch_`` and ``influence_`` (sample indices, importance weights, span
        self-influence, factor, outputs, targets).
    """

    def __init__(self, patience: int, tol: float, checkpoints: bool = False):
        self.patience = patience
        self.tol = tol
        self.checkpoints = checkpoints

    def on_train_begin(self, net, X=None, **kwargs):
        train = X.train  # the engine's Feed
        n = len(train)
        device = train.y.device
        if len(getattr(self, "activation_epoch_", ())) != n:
            self.activation_epoch_ = torch.full((n,), -1, dtype=torch.long, device=device)
        self.stopping_ = {
            "best": torch.full((n + 1,), float("inf"), dtype=torch.float64, device=device),
            "misses": torch.zeros(n + 1, dtype=torch.long, device=device),
            "stopped_at": torch.full((n + 1,), -1, dtype=torch.long, device=device),
        }
        self.checkpoints_ = {}
        self.failures_ = {}
        self.influence_ = InfluenceAccumulator(n, train.weight.dtype, device)
        self.steps_ = []
        self.stand_in_ = _stand_in(train)
        self._count_active()
        # Other optimizers have no per-sample steps: nothing to record.
        self.recording_ = net.optimizer_spec.per_sample
        self.first_epoch_ = len(net.history)

    def on_epoch_begin(self, net, **kwargs):
        epoch = len(net.history) - 1 - self.first_epoch_  # skorch opened its row
        has_margins = net.criterion_.task in _MARGIN_TASKS
        if self.recording_ and has_margins and epoch & (epoch - 1) == 0:
            # Segments of epochs 0, 1, 2, 4, 8, ...: the weights of each segment's start
            # turn its pull to the final gradient directions (the estimate).
            self.influence_.start_segment(p for p in net.module_.parameters() if p.requires_grad)
        if self.checkpoints and self.recording_:
            # skorch has opened this epoch's history row: the state is the previous end's.
            state = _capture(net, self.stopping_)
            state.history = state.history[:-1]
            state.epoch -= 1
            self.checkpoints_[state.epoch] = state

    def on_batch_end(
        self, net, batch=None, training=False, y_pred=None, sample_alpha=None, **kwargs
    ):
        if not training or sample_alpha is None:
            return
        target, _, index = batch[1]
        step = net.optimizer_.last_step
        span = None
        if self._estimate_in_reach(net):
            try:
                span = span_self_influence(step.gram, sample_alpha, step.bounds)
            except NUMERICAL_ERRORS as exc:
                if not _is_numerical(exc):
                    raise
                self._fail(("estimate",), "the span self-influence of a step", exc)
        # Summed once an epoch (:meth:`_record_steps`): per step, the margins and sums
        # took more tensor operations than a small importance-weights step itself.
        self.steps_.append((index, sample_alpha, span, step.lr, y_pred, target))

    def _record_steps(self, net) -> None:
        """Add the steps kept since the last call to the activation epochs and the sums
        of ``influence_``."""
        if not self.steps_:
            return
        index, alphas, span, lr, output, target = zip(*self.steps_, strict=True)
        self.steps_ = []
        index, alpha = torch.cat(index), torch.cat(alphas)
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
                regression = net.criterion_.task == "regression"
                _, margin_per_loss = margins(output, target, net.criterion_, regression)
                gradient_norm, curvature = loss_gradient_scale(output, target, net.criterion_)
                self.influence_.update(
                    index, alpha, torch.cat(span), lr, margin_per_loss, gradient_norm, curvature
                )
            except NUMERICAL_ERRORS as exc:
                if not _is_numerical(exc):
                    raise
                self._fail(("estimate",), "the estimate's influence sums", exc)

    def _count_active(self) -> None:
        """Note whether more samples have been active than the estimate can take (once
        true it stays: samples never become inactive again)."""
        n_active = int((self.activation_epoch_ >= 0).sum())
        self.too_many_active_ = n_active > MAX_ACTIVE_FOR_ESTIMATE

    def _estimate_in_reach(self, net) -> bool:
        """Whether the estimate's per-step records are still needed: its task has them,
        none failed, and not more samples were active than it takes (then its per-step
        spans cost a tenth of a large fit's steps for a NaN)."""
        return (
            net.criterion_.task in _MARGIN_TASKS
            and "estimate" not in self.failures_
            and not self.too_many_active_
        )

    def _fail(self, quantities: tuple[str, ...], what: str, exc: BaseException) -> None:
        """Record that ``what``, which ``quantities`` need, raised ``exc`` (the first
        failure of a quantity is its reason)."""
        reason = failure_reason(what, exc)
        for quantity in quantities:
            self.failures_.setdefault(quantity, reason)

    def _replay_stopping(self, data: TensorData, losses: torch.Tensor, epoch: int) -> torch.Tensor:
        """Advance the stopping rule of the run and of every run without one sample, from
        each sample's loss at its visit in this epoch; return the samples whose run has,
        so far, stopped at another epoch than the full run (the last entry)."""
        weight = data.weight.double()
        contributions = weight * losses.double()
        total, total_weight = contributions.sum(), weight.sum()
        without = (total - contributions) / (total_weight - weight).clamp_min(1e-300)
        scores = torch.cat([without, (total / total_weight).reshape(1)])
        rule = self.stopping_
        improved = scores < rule["best"]
        rule["best"] = torch.where(improved, scores - self.tol, rule["best"])
        rule["misses"] = torch.where(improved, 0, rule["misses"] + 1)
        newly = (rule["misses"] == self.patience) & (rule["stopped_at"] < 0)
        rule["stopped_at"][newly] = epoch
        return rule["stopped_at"][:-1] != rule["stopped_at"][-1]

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        self._record_steps(net)
        if not self.recording_ or net.criterion_.task not in _BOUND_TASKS:
            return
        epoch = len(net.history) - 1
        bound = math.nan  # once a failure made it NaN
        # The replayed stopping rule serves the bound and the replay: once it failed,
        # its state is not advanced again.
        unstable = None
        if "replay" not in self.failures_:
            try:
                # The optimizer keeps each sample's loss at its last visit (its
                # per-sample memory).
                losses = net.optimizer_.last_losses
                unstable = self._replay_stopping(dataset_train, losses, epoch)
            except NUMERICAL_ERRORS as exc:
                if not _is_numerical(exc):
                    raise
                what = f"the replayed stopping rule in epoch {epoch}"
                self._fail(("bound", "replay"), what, exc)
        if unstable is not None and "bound" not in self.failures_:
            try:
                output = eval_forward(net.module_, dataset_train.X)
                hit = net.criterion_.correct(output, dataset_train.y)
                removal_changes_run = (self.activation_epoch_ >= 0) | unstable
                counted = removal_changes_run[self.stand_in_] | ~hit
                bound = int(counted.sum()) / len(counted)
            except NUMERICAL_ERRORS as exc:
                if not _is_numerical(exc):
                    raise
                self._fail(("bound",), f"the bound's count in epoch {epoch}", exc)
        net.history.record("loo_bound", bound)

    def on_train_end(self, net, **kwargs):
        self._record_steps(net)  # after an interrupted epoch
        if self.checkpoints and self.recording_:
            state = _capture(net, self.stopping_)
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
        stopping = callbacks["stopping"]
        stopping.misses_ = int(state.stopping["misses"][-1])
        stopping.dynamic_threshold_ = float(state.stopping["best"][-1])
        recorder = callbacks["loo"]
        recorder.stopping_ = {k: v.clone() for k, v in state.stopping.items()}
        recorder.activation_epoch_.fill_(-1)


# ------------------------------------------------------------------------ attributes
def record_attributes(estimator, train: TensorData, incremental: bool) -> None:
    """Set the leave-one-out attributes of ``estimator`` after a fit.

    Sets ``loo_reason_`` always; with importance weights also ``importance_weights_``,
    ``support_``, ``activation_epoch_`` and ``loo_bound_curve_``; the values behind
    ``loo_influence_`` and ``loo_estimate_`` wait for :func:`settle_estimate`.

    Parameters
    ----------
    estimator : BaseIWEstimator
        The estimator, right after its fit.
    train : TensorData
        The training samples.
    incremental : bool
        Whether the fit continued an earlier one.
    """
    net = estimator.net_
    estimator.__dict__.pop("_loo_pending", None)
    obstacle = lemma_obstacle(estimator, incremental, len(train))
    estimator.loo_reason_ = {"bound": obstacle, "estimate": obstacle, "replay": obstacle}
    if not net.optimizer_spec.per_sample:
        return
    recorder = dict(net.callbacks_)["loo"]
    estimator.importance_weights_ = net.optimizer_.importance_weights.cpu().numpy().copy()
    estimator.activation_epoch_ = recorder.activation_epoch_.cpu().numpy().copy()
    estimator.support_ = np.flatnonzero(estimator.activation_epoch_ >= 0)
    estimator._loo_influence = np.zeros(len(train))
    estimator._loo_estimate = math.nan
    estimator._loo_outputs = None
    if net.criterion_.task in _BOUND_TASKS:
        estimator.loo_bound_curve_ = [float(row["loo_bound"]) for row in net.history]
    else:
        estimator.loo_bound_curve_ = []
        estimator.loo_reason_["bound"] = NOT_CLASSIFICATION
    if obstacle is not None:
        return
    for quantity, reason in recorder.failures_.items():
        estimator.loo_reason_[quantity] = reason
    if estimator.loo_reason_["estimate"] is not None:
        return
    n_active = len(estimator.support_)
    if n_active > MAX_ACTIVE_FOR_ESTIMATE:
        estimator.loo_reason_["estimate"] = (
            f"{n_active} samples were active, more than the {MAX_ACTIVE_FOR_ESTIMATE} whose "
            "jackknife matrix the estimate factors (full batches or smaller margins p keep "
            "fewer samples active)"
        )
        return
    net.module_.eval()
    inputs = (net.module_, net.criterion_, train.X, train.y, recorder.influence_)
    regression = net.criterion_.task == "regression"
    try:
        estimator.loo_reason_["estimate"] = estimate_obstacle(*inputs, regression=regression)
    except NUMERICAL_ERRORS as exc:
        if not _is_numerical(exc):
            raise
        estimator.loo_reason_["estimate"] = failure_reason("the estimate's checks", exc)
    if estimator.loo_reason_["estimate"] is None:
        # Computed when first asked for (settle_estimate): its Gram matrix and
        # factorisation of the active samples can cost more than the training itself.
        estimator._loo_pending = (inputs, regression, recorder.stand_in_)


def settle_estimate(estimator) -> None:
    """Compute ``loo_estimate_``, ``loo_influence_`` and the estimated leave-one-out
    outputs of the last fit if still pending.

    Where the computation raises a numerical error (:data:`NUMERICAL_ERRORS`: the
    factorisation of an ill-conditioned jackknife matrix under extreme class weights,
    ...) or gives NaN margins, both are NaN and ``loo_reason_['estimate']`` says what
    failed.

    Parameters
    ----------
    estimator : BaseIWEstimator
        A fitted estimator.
    """
    pending = estimator.__dict__.pop("_loo_pending", None)
    if pending is None:
        return
    inputs, regression, stand_in = pending
    try:
        estimate = loo_margins(*inputs, regression=regression)
        # The segments' weights served the estimate only: a pickle need not carry them.
        inputs[-1].segments.clear()
        reason = estimate.reason
        # A NaN margin would count as no error: an optimistic number, never given.
        if reason is None and bool(torch.isnan(estimate.margins).any()):
            reason = "some estimated leave-one-out margins are NaN"
    except NUMERICAL_ERRORS as exc:
        if not _is_numerical(exc):
            raise
        what = "factorisation" if isinstance(exc, _LINALG_ERRORS) else "computation"
        reason = failure_reason(f"the estimate's {what}", exc)
    if reason is not None:
        estimator.loo_reason_["estimate"] = reason
        estimator._loo_influence = np.full(len(estimator._loo_influence), math.nan)
        estimator._loo_estimate = math.nan
        return
    # A sample with copies is left out as its stand-in (the estimate of that run).
    loo = estimate.margins[stand_in]
    outputs = estimate.outputs[stand_in]
    estimator._loo_influence = (estimate.final - loo).cpu().numpy()
    if regression:  # the mean squared error, as leave_one_out's error of regressors
        target = inputs[3]
        estimator._loo_estimate = float((outputs - target).double().square().mean())
    else:
        estimator._loo_estimate = float((loo < 0).double().mean())
    estimator._loo_outputs = outputs.cpu().numpy()


def nan_with_reason(estimator, quantity: str, value: float) -> float:
    """``value``, or NaN with a warning where ``loo_reason_`` names why it cannot hold."""
    reason = estimator.loo_reason_[quantity]
    if reason is not None:
        warnings.warn(f"loo_{quantity}_ is NaN: {reason}.", UserWarning, stacklevel=3)
        return float("nan")
    return value


# ------------------------------------------------------------------------ the replay
def _start_epochs(final) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the epoch whose starting state the run without it shares with the full
    run and from which it must be re-run (-1: the run without it is the full run), and
    the epoch whose final weights it ends with when it needs no re-run."""
    recorder = dict(final.net_.callbacks_)["loo"]
    n_epochs = len(final.net_.history)
    active = final.activation_epoch_
    stopped_at = recorder.stopping_["stopped_at"].cpu().numpy()
    without, full = stopped_at[:-1], stopped_at[-1]
    # The run without k stopped at another epoch than the full run before k acted: it
    # ends with the full run's weights after that epoch.
    stops_first = (without >= 0) & (without != full) & ((active < 0) | (without < active))
    ends_with = np.where(stops_first, without + 1, n_epochs)
    start = np.where(active >= 0, active, -1)
    # Never active, but the run without k goes on where the full run stopped.
    goes_on = (active < 0) & (without < 0) & (full >= 0)
    start = np.where(goes_on, n_epochs, start)
    return np.where(stops_first, -1, start), ends_with


def _fit_preprocessing(estimator, X, y):
    """Fit every step of (nested) pipelines but the last on ``X``; return the last step
    and ``X`` as it receives it."""
    while isinstance(estimator, Pipeline):
        if len(estimator) > 1:
            X = estimator[:-1].fit_transform(X, y)
        estimator = estimator[-1]
    return estimator, X


def _outputs_at(estimator, state: dict, X) -> np.ndarray:
    """Outputs at ``X`` of ``estimator``'s module with the weights ``state``."""
    module = copy.deepcopy(estimator.net_.module_)
    module.load_state_dict(state)
    return estimator._forward(X, module).cpu().numpy()


def _replay_one(template, X, y, sample_weight, k, checkpoint, seed) -> tuple[np.ndarray, int]:
    """Module outputs at ``X[k]`` of ``template`` trained without sample k, from
    ``checkpoint`` (of the full run) or from scratch when it is None, and the number of
    epochs trained."""
    keep = np.flatnonzero(np.arange(len(y)) != k)
    estimator = clone(template)
    X_k, y_k = _safe_indexing(X, keep), y[keep]
    weight = None if sample_weight is None else sample_weight[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if checkpoint is None:
            estimator.fit(X_k, y_k, sample_weight=weight)
        else:
            estimator._resume_fit(X_k, y_k, weight, checkpoint.without(k), seed)
    epochs = estimator.n_iter_ - (0 if checkpoint is None else checkpoint.epoch)
    return estimator._forward(_safe_indexing(X, [k]))[0].cpu().numpy(), epochs


def leave_one_out(estimator, X, y, *, sample_weight=None, n_jobs=None, verbose=0) -> Bunch:
    """Exact leave-one-out predictions of an importance-weights estimator, by replay.

    Fits a clone of ``estimator`` on all the data, recording a checkpoint at the start
    of every epoch. By the leave-one-out lemma (DESIGN section 3) the run without sample
    ``k`` is the full run up to the first epoch in which ``k`` was active; so only the
    samples that were ever active are trained again, each from the checkpoint of its
    first activation, without ``k``, to the end of training (with the stopping rule as
    the run without ``k`` has it). Every other sample's model is one of the full run's.
    The replays are independent and run through joblib. Where the lemma does not hold
    (another optimizer, dropout, ``early_stopping``, ...; the fitted estimator's
    ``loo_reason_['replay']`` says why) every sample is refitted from scratch: still
    exact, at the cost of n fits.

    Parameters
    ----------
    estimator : estimator object
        An estimator of this package, or a :class:`~sklearn.pipeline.Pipeline` ending in
        one (fitted or not: a clone is fitted). For a pipeline the earlier steps are
        fitted once on all the data and the last step is trained on their output: the
        result is the exact leave-one-out of the last step given that preprocessing.
    X : array-like of shape (n_samples, ...)
        Training data.
    y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        Target labels or values.
    sample_weight : array-like of shape (n_samples,), default=None
        Per-sample weights of the (last step's) fit.
    n_jobs : int, default=None
        Number of replays run in parallel by joblib (``None``: 1 unless in a
        :func:`joblib.parallel_backend` context, which may be dask or ray).
    verbose : int, default=0
        joblib's verbosity.

    Returns
    -------
    result : sklearn.utils.Bunch
        ``decision`` (n_samples,) or (n_samples, n_outputs): each sample's decision
        value (a regressor's predicted value) from the model trained without it;
        ``predictions``: the labels (values) those give; ``error``: the leave-one-out
        error rate (a regressor's mean squared error); ``n_replayed``: samples trained again;
        ``cost_fraction``: epochs trained again over the ``n * n_iter_`` of n refits
        (each taken to train as many epochs as the fit on all the data);
        ``estimator``: the fit on all the data; ``reason``: why every sample was
        refitted from scratch, or None.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from sklearn_iw import IWLogisticRegression
    >>> from sklearn_iw.model_selection import leave_one_out
    >>> from sklearn_iw.solvers import ImportanceWeights
    >>> X, y = make_blobs(40, centers=2, cluster_std=3.0, random_state=0)
    >>> clf = IWLogisticRegression(
    ...     optimizer=ImportanceWeights(p=0.05), batch_size="full", max_iter=10,
    ...     n_iter_no_change=10, random_state=0,
    ... )
    >>> loo = leave_one_out(clf, X, y)
    >>> loo.decision.shape, 0.0 <= loo.error <= 1.0
    ((40,), True)
    >>> bool(loo.n_replayed == len(loo.estimator.support_) and loo.cost_fraction < 1)
    True
    """
    y = np.asarray(y)
    weight = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    fitted = clone(estimator)
    final, X_final = _fit_preprocessing(fitted, X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        final._fit_with_checkpoints(X_final, y, weight)
    net = final.net_
    template, n = clone(final), len(y)
    reason = final.loo_reason_["replay"]
    outputs = final._forward(X_final).cpu().numpy()
    if reason is None:
        start, ends_with = _start_epochs(final)
        recorder = dict(net.callbacks_)["loo"]
        checkpoints = recorder.checkpoints_
        # A sample with copies is left out as its stand-in (the same run); the others are
        # their own stand-ins.
        stand_in = recorder.stand_in_.cpu().numpy()
        own = stand_in == np.arange(n)
        for k in np.flatnonzero(own & (start < 0) & (ends_with < len(net.history))):
            state = checkpoints[ends_with[k]].module
            outputs[k] = _outputs_at(final, state, _safe_indexing(X_final, [k]))[0]
        todo = np.flatnonzero(own & (start >= 0))
        tasks = [(k, checkpoints[start[k]]) for k in todo]
    else:
        stand_in = np.arange(n)
        todo = np.arange(n)
        tasks = [(k, None) for k in todo]
    replayed = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_replay_one)(template, X_final, y, weight, k, checkpoint, final._seed)
        for k, checkpoint in tasks
    )
    for k, (value, _) in zip(todo, replayed, strict=True):
        outputs[k] = value
    outputs = outputs[stand_in]
    epochs_run = sum(epochs for _, epochs in replayed)
    # The checkpoints served the replays only.
    dict(net.callbacks_)["loo"].checkpoints_ = {}
    outputs_t = torch.as_tensor(outputs)
    predictions = final._labels(net.criterion_.predict(outputs_t).numpy())
    return Bunch(
        decision=final._decision(outputs_t),
        predictions=predictions,
        error=final._error(predictions, y),
        n_replayed=len(todo),
        cost_fraction=float(epochs_run / (n * final.n_iter_)),
        estimator=fitted,
        reason=reason,
    )

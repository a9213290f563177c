"""The exact leave-one-out by replay (:func:`leave_one_out`).

The run without sample k equals the full run up to k's first activation, so only
ever-active samples are re-run, each from a checkpoint taken at the start of the epoch it
was first active in.
"""

from __future__ import annotations

import copy
import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, _safe_indexing
from sklearn.utils.parallel import Parallel, delayed


# ------------------------------------------------------------------------ the replay
def _start_epochs(final) -> tuple[np.ndarray, np.ndarray]:
    """Per sample: the epoch whose starting state the run without it shares with the full
    run and from which it must be re-run (-1: the run without it is the full run's up to
    where it stops), and the epoch whose weights that run keeps (its best)."""
    n_epochs = len(final.net_.history)
    active = final.activation_epoch_
    rule = dict(final.net_.callbacks_)["stopping"].rule_
    stopped_at, kept = rule.stopped_at.cpu().numpy(), rule.lowest_epoch.cpu().numpy()
    without, full = stopped_at[:-1], stopped_at[-1]
    # The run without k stopped at another epoch than the full run before k acted: it
    # is the full run's up to there.
    stops_first = (without >= 0) & (without != full) & ((active < 0) | (without < active))
    start = np.where(active >= 0, active, -1)
    # Never active, but the run without k goes on where the full run stopped.
    goes_on = (active < 0) & (without < 0) & (full >= 0)
    start = np.where(goes_on, n_epochs, start)
    return np.where(stops_first, -1, start), kept[:-1]


def final_step(estimator):
    """The estimator that holds the leave-one-out attributes: the last step of (nested)
    pipelines."""
    while isinstance(estimator, Pipeline):
        estimator = estimator[-1]
    return estimator


def _fit_preprocessing(estimator, X, y):
    """Fit every step of (nested) pipelines but the last on ``X``; return the last step
    and ``X`` as it receives it."""
    final = final_step(estimator)
    while estimator is not final:
        if len(estimator) > 1:
            X = estimator[:-1].fit_transform(X, y)
        estimator = estimator[-1]
    return final, X


def _outputs_at(estimator, state: dict, X) -> np.ndarray:
    """Outputs at ``X`` of ``estimator``'s module with the weights ``state``."""
    module = copy.deepcopy(estimator.net_.module_)
    module.load_state_dict(state)
    return estimator.module_outputs(X, module).cpu().numpy()


def _replay_one(template, X, y, sample_weight, k, checkpoint) -> tuple[np.ndarray, int, int]:
    """Module outputs at ``X[k]`` of ``template`` trained without sample k, from
    ``checkpoint`` (of the full run) or from scratch when it is None, the number of
    epochs trained, and the epoch whose weights that run keeps."""
    keep = np.flatnonzero(np.arange(len(y)) != k)
    estimator = clone(template)
    X_k, y_k = _safe_indexing(X, keep), y[keep]
    weight = None if sample_weight is None else sample_weight[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if checkpoint is None:
            estimator.fit(X_k, y_k, sample_weight=weight)
        else:
            estimator.fit_from_checkpoint(X_k, y_k, weight, checkpoint.without(k))
    epochs = estimator.n_iter_ - (0 if checkpoint is None else checkpoint.epoch)
    kept = int(dict(estimator.net_.callbacks_)["stopping"].rule_.lowest_epoch[-1])
    return estimator.module_outputs(_safe_indexing(X, [k]))[0].cpu().numpy(), epochs, kept


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
        final.fit_with_checkpoints(X_final, y, weight)
    net = final.net_
    template, n = clone(final), len(y)
    reason = final.loo_reason_["replay"]
    outputs = final.module_outputs(X_final).cpu().numpy()
    if reason is None:
        start, kept = _start_epochs(final)
        recorder = dict(net.callbacks_)["loo"]
        # Keyed by the epochs completed: the weights after epoch e are those of e + 1.
        checkpoints = recorder.checkpoints_
        # A sample with copies is left out as its stand-in (the same run); the others are
        # their own stand-ins.
        stand_in = recorder.stand_in_.cpu().numpy()
        own = stand_in == np.arange(n)
        # The fit kept its best epoch's weights; a run without k that is the full run's
        # keeps its own best epoch's.
        full_kept = int(dict(net.callbacks_)["stopping"].rule_.lowest_epoch[-1])
        for k in np.flatnonzero(own & (start < 0) & (kept != full_kept)):
            state = checkpoints[kept[k] + 1].module
            outputs[k] = _outputs_at(final, state, _safe_indexing(X_final, [k]))[0]
        todo = np.flatnonzero(own & (start >= 0))
        tasks = [(k, checkpoints[start[k]]) for k in todo]
    else:
        stand_in = np.arange(n)
        todo = np.arange(n)
        tasks = [(k, None) for k in todo]
    replayed = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_replay_one)(template, X_final, y, weight, k, checkpoint) for k, checkpoint in tasks
    )
    for (k, checkpoint), (value, _, kept_k) in zip(tasks, replayed, strict=True):
        if checkpoint is not None and kept_k < checkpoint.epoch:
            # Its best epoch came before it parted from the full run: the full run's weights.
            value = _outputs_at(
                final, checkpoints[kept_k + 1].module, _safe_indexing(X_final, [k])
            )[0]
        outputs[k] = value
    outputs = outputs[stand_in]
    epochs_run = sum(epochs for _, epochs, _ in replayed)
    # The checkpoints served the replays only.
    dict(net.callbacks_)["loo"].checkpoints_ = {}
    outputs_t = torch.as_tensor(outputs)
    predictions = final.predictions_from_outputs(outputs_t)
    return Bunch(
        decision=final.decision_from_outputs(outputs_t),
        predictions=predictions,
        error=final.prediction_error(predictions, y),
        n_replayed=len(todo),
        cost_fraction=float(epochs_run / (n * final.n_iter_)),
        estimator=fitted,
        reason=reason,
    )

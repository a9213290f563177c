"""The leave-one-out record of a fit: reasons, support, the bound's curve, the estimate.

:func:`record_fit` reads the run's records after a fit and returns a
:class:`LeaveOneOutRecord`, from which the estimator sets its fitted attributes. The
estimate ``loo_estimate_`` (approximate, cheap) is a span self-influence summed over the
steps where each sample was active and a jackknife at the end of training of each
sample's pull over those steps (:mod:`._influence`); never-active samples are exact. It
is computed when first asked for (:meth:`LeaveOneOutRecord.settle`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from ..engine._data import TensorData
from ..utils._numerics import LINALG_ERRORS, NUMERICAL_ERRORS, failure_reason, is_numerical
from ._influence import LOOMargins, estimate_obstacle, loo_margins
from ._validity import MAX_ACTIVE_FOR_ESTIMATE, NOT_CLASSIFICATION, lemma_obstacle


@dataclass
class LeaveOneOutRecord:
    """What leave-one-out knows about one fit.

    Attributes
    ----------
    reasons : dict of str to str or None
        Why each quantity ('bound', 'estimate', 'replay') is not available, or None.
    importance_weights : ndarray or None
        (n,) each sample's last importance weight (None without importance weights).
    activation_epoch : ndarray or None
        (n,) the epoch of each sample's first activation, -1 if never.
    support : ndarray or None
        The indices of the samples ever active.
    bound_curve : list of float or None
        The bound after every epoch (empty for regressors).
    bound : float
        The bound at the weights kept (those of the best epoch; NaN where not
        available).
    influence : ndarray or None
        (n,) each sample's estimated margin drop when left out (zeros until settled,
        NaN where the estimate failed).
    estimate : float
        The estimated leave-one-out error (NaN until settled or where it failed).
    outputs : ndarray or None
        (n, n_outputs) the estimated leave-one-out outputs, once settled.
    """

    reasons: dict
    importance_weights: np.ndarray | None = None
    activation_epoch: np.ndarray | None = None
    support: np.ndarray | None = None
    bound_curve: list | None = None
    bound: float = math.nan
    influence: np.ndarray | None = None
    estimate: float = math.nan
    outputs: np.ndarray | None = None
    # The estimate's inputs until it is computed (they hold the training tensors).
    pending: tuple | None = field(default=None, repr=False)

    def settle(self) -> None:
        """Compute the estimate, the influences and the estimated leave-one-out outputs
        if still pending.

        Where the computation raises a numerical error (:data:`NUMERICAL_ERRORS`: the
        factorisation of an ill-conditioned jackknife matrix under extreme class
        weights, ...) or gives NaN margins, both are NaN and ``reasons['estimate']`` says
        what failed.
        """
        if self.pending is None:
            return
        (inputs, regression, stand_in), self.pending = self.pending, None
        try:
            estimate = loo_margins(*inputs, regression=regression)
            # The pulls served the estimate only: a pickle need not carry them.
            inputs[-1].segments.clear()
            inputs[-1].pull_vectors = None
            reason = estimate.reason
            # A NaN margin would count as no error: an optimistic number, never given.
            if reason is None and bool(torch.isnan(estimate.margins).any()):
                reason = "some estimated leave-one-out margins are NaN"
        except NUMERICAL_ERRORS as exc:
            if not is_numerical(exc):
                raise
            what = "factorisation" if isinstance(exc, LINALG_ERRORS) else "computation"
            reason = failure_reason(f"the estimate's {what}", exc)
        if reason is None and not regression:
            reason = _disagreement(estimate, stand_in)
        if reason is not None:
            self.reasons["estimate"] = reason
            self.influence = np.full(len(self.influence), math.nan)
            self.estimate = math.nan
            return
        # A sample with copies is left out as its stand-in (the estimate of that run).
        loo = estimate.margins[stand_in]
        outputs = estimate.outputs[stand_in]
        self.influence = (estimate.final - loo).cpu().numpy()
        if regression:  # the mean squared error, as leave_one_out's error of regressors
            target = inputs[3]
            self.estimate = float((outputs - target).double().square().mean())
        else:
            self.estimate = float((loo < 0).double().mean())
        self.outputs = outputs.cpu().numpy()


# The most the error rates of the estimate's two pieces may differ by, on a model that
# fits its training set, before the estimate is NaN. On the 57 fits of
# benchmarks/bench_loo_estimate.py they differ by 0.05 at most except on two MLPs that fit
# high-dimensional data exactly (0.150 and 0.162), where the estimate under-estimated the
# exact leave-one-out error by 0.092 and 0.188.
MAX_DISAGREEMENT = 0.1


def _disagreement(estimate: LOOMargins, stand_in: torch.Tensor) -> str | None:
    """Why the estimate is not to be trusted, or None: on a model that classifies every
    training sample right, whose final margins then say nothing of its leave-one-out
    errors, its two pieces (the span self-influence and the jackknife; the estimate takes
    each sample's smaller drop) count error rates further apart than
    :data:`MAX_DISAGREEMENT`."""
    if bool((estimate.final[stand_in] < 0).any()):
        return None
    with_span = float((estimate.margins[stand_in] < 0).double().mean())
    jackknife = float(((estimate.final - estimate.jackknife)[stand_in] < 0).double().mean())
    if abs(jackknife - with_span) <= MAX_DISAGREEMENT:
        return None
    return (
        "the model fits its training set and the estimate's two pieces disagree: "
        f"{with_span:.3f} with the span self-influence, {jackknife:.3f} from the jackknife "
        f"alone (more than {MAX_DISAGREEMENT} apart); leave_one_out gives the exact error"
    )


def record_fit(estimator, train: TensorData, incremental: bool) -> LeaveOneOutRecord:
    """The leave-one-out record of ``estimator``'s fit, read from the run's records.

    The reasons always; with importance weights also the weights, activation epochs,
    support and the bound's curve; the estimate waits for
    :meth:`LeaveOneOutRecord.settle`.

    Parameters
    ----------
    estimator : BaseIWEstimator
        The estimator, right after its fit.
    train : TensorData
        The training samples.
    incremental : bool
        Whether the fit continued an earlier one.

    Returns
    -------
    record : LeaveOneOutRecord
    """
    net = estimator.net_
    obstacle = lemma_obstacle(estimator, incremental, len(train))
    record = LeaveOneOutRecord({"bound": obstacle, "estimate": obstacle, "replay": obstacle})
    if not net.optimizer_spec.records_activity:
        return record
    recorder = dict(net.callbacks_)["loo"]
    record.importance_weights = recorder.last_activity_.cpu().numpy().copy()
    record.activation_epoch = recorder.activation_epoch_.cpu().numpy().copy()
    record.support = np.flatnonzero(record.activation_epoch >= 0)
    record.influence = np.zeros(len(train))
    if net.criterion_.counts_errors:
        record.bound_curve = [float(row["loo_bound"]) for row in net.history]
    else:
        record.bound_curve = []
        record.reasons["bound"] = NOT_CLASSIFICATION
    if obstacle is not None:
        return record
    record.reasons.update(recorder.failures_)
    if record.reasons["bound"] is None and record.bound_curve:
        # At the best epoch's weights, which the fit kept.
        try:
            record.bound = recorder.bound(net, train)
        except NUMERICAL_ERRORS as exc:
            if not is_numerical(exc):
                raise
            record.reasons["bound"] = failure_reason("the bound's count", exc)
    if record.reasons["estimate"] is not None:
        return record
    n_active = len(record.support)
    if n_active > MAX_ACTIVE_FOR_ESTIMATE:
        record.reasons["estimate"] = (
            f"{n_active} samples were active, more than the {MAX_ACTIVE_FOR_ESTIMATE} whose "
            "jackknife matrix the estimate factors (full batches or smaller margins p keep "
            "fewer samples active)"
        )
        return record
    net.module_.eval()
    inputs = (net.module_, net.criterion_, train.X, train.y, recorder.influence_)
    regression = net.criterion_.regression
    try:
        record.reasons["estimate"] = estimate_obstacle(*inputs, regression=regression)
    except NUMERICAL_ERRORS as exc:
        if not is_numerical(exc):
            raise
        record.reasons["estimate"] = failure_reason("the estimate's checks", exc)
    if record.reasons["estimate"] is None:
        # Computed when first asked for (settle): its Gram matrix and factorisation of
        # the active samples can cost more than the training itself.
        record.pending = (inputs, regression, recorder.stand_in_)
    return record

"""The fitted leave-one-out attributes: the support, the bound's curve, the estimate.

The estimate ``loo_estimate_`` (approximate, cheap) is a span self-influence summed over
the steps where each sample was active and a jackknife at the end of training
(:mod:`._influence`); never-active samples are exact. It is computed when first asked for.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..engine._data import TensorData
from ._influence import (
    estimate_obstacle,
    loo_margins,
)
from ._validity import (
    BOUND_TASKS,
    LINALG_ERRORS,
    MAX_ACTIVE_FOR_ESTIMATE,
    NOT_CLASSIFICATION,
    NUMERICAL_ERRORS,
    failure_reason,
    is_numerical,
    lemma_obstacle,
)


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
    if net.criterion_.task in BOUND_TASKS:
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
        if not is_numerical(exc):
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
        if not is_numerical(exc):
            raise
        what = "factorisation" if isinstance(exc, LINALG_ERRORS) else "computation"
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

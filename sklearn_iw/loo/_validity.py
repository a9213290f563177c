"""Whether the leave-one-out lemma holds for a fit, and what a failed computation gives.

The lemma: removing a sample that was never active (importance weight 0 at every step)
changes no iterate, as long as samples do not interact except through the QP.
:func:`lemma_obstacle` says why it cannot hold for a fit; a quantity whose computation
raises a numerical error becomes NaN with the error as its reason.
"""

from __future__ import annotations

import warnings

from torch import nn

NOT_IMPORTANCE_WEIGHTS = "the optimizer is not 'importance_weights'"
NOT_CLASSIFICATION = (
    "the bound counts misclassified samples: it is defined for classifiers only "
    "(loo_estimate_ estimates the leave-one-out squared error, leave_one_out replays "
    "exact predictions)"
)
# The estimate's jackknife factors an |A| x |A| matrix of the ever-active samples: beyond
# this many (128 MiB in float64) it is not computed.
MAX_ACTIVE_FOR_ESTIMATE = 4096


def lemma_obstacle(estimator, incremental: bool, n_train: int) -> str | None:
    """Why removing a never-active sample could change the run of ``estimator``'s last
    fit, or None where the leave-one-out lemma holds.

    Parameters
    ----------
    estimator : LeaveOneOutEstimator
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
    if not net.optimizer_spec.records_activity:
        return NOT_IMPORTANCE_WEIGHTS
    if net.diverged_at_ is not None:
        return "training diverged and was rolled back to earlier weights"
    own = estimator.loo_obstacle()
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


def nan_with_reason(estimator, quantity: str, value: float) -> float:
    """``value``, or NaN with a warning where ``loo_reason_`` names why it cannot hold."""
    reason = estimator.loo_reason_[quantity]
    if reason is not None:
        warnings.warn(f"loo_{quantity}_ is NaN: {reason}.", UserWarning, stacklevel=3)
        return float("nan")
    return value

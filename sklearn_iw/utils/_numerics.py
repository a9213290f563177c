"""Numerical checks shared by the wings: finiteness, and which errors are numerical.

The lowest layer of the package: it imports nothing of it.
"""

from __future__ import annotations

import numpy as np
import torch


def all_finite(tensors) -> bool:
    """Whether no entry of ``tensors`` is NaN or infinite: one host synchronisation for
    the sum of their sums, elementwise tests only when that is not finite (it may
    overflow)."""
    tensors = list(tensors)
    if bool(torch.isfinite(sum(t.sum() for t in tensors))):
        return True
    return all(bool(torch.isfinite(t).all()) for t in tensors)


# What the computation of a leave-one-out quantity (or another record of a run) raises on
# numbers it cannot handle (a factorisation of an ill-conditioned matrix under extreme class
# weights, overflow, non-finite values): the quantity becomes NaN with the error as its
# reason, and the fit goes on. torch raises RuntimeError (LinAlgError among them), numpy
# and scipy ValueError (LinAlgError among them) or FloatingPointError. Other exceptions
# are bugs and propagate.
NUMERICAL_ERRORS = (
    np.linalg.LinAlgError,
    torch.linalg.LinAlgError,
    FloatingPointError,
    ValueError,
    RuntimeError,
)
LINALG_ERRORS = (np.linalg.LinAlgError, torch.linalg.LinAlgError)
# RuntimeErrors that say nothing about the numbers.
_NOT_NUMERICAL = (NotImplementedError, RecursionError)


def is_numerical(exc: BaseException) -> bool:
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

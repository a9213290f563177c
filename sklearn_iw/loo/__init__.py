"""The leave-one-out wing: the record of a run, validity, the bound, the estimate, the replay.

It reads the engine's records of a run and drives estimators through the methods of
:class:`LeaveOneOutEstimator`, never their private ones; :func:`leave_one_out` is public
(also importable from :mod:`sklearn_iw.model_selection`).
"""

from ._protocol import LeaveOneOutEstimator
from ._replay import leave_one_out

__all__ = ["LeaveOneOutEstimator", "leave_one_out"]

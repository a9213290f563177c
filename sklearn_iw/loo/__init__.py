"""The leave-one-out wing: the record of a run, validity, the bound, the estimate, the replay.

It reads estimators through the engine's records and drives them through their declared
methods; :func:`leave_one_out` is public (also importable from
:mod:`sklearn_iw.model_selection`).
"""

from ._replay import leave_one_out

__all__ = ["leave_one_out"]

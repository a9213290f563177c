"""Model selection by leave-one-out from one fit per candidate, and exact leave-one-out.

A model trained by importance weights knows three leave-one-out quantities of its own
(``docs/importance_weights.md``): the rigorous but loose bound ``loo_bound_``, the cheap
approximate ``loo_estimate_``, and the exact error of :func:`leave_one_out`, which re-runs
only the samples that were ever active. :class:`LOOBoundSearchCV` and
:class:`LOOBoundRandomizedSearchCV` fit every candidate once on all the data and rank the
candidates by the chosen one, where :class:`~sklearn.model_selection.GridSearchCV` needs
k fits per candidate plus a refit. :func:`loo_bound_scorer` and
:func:`loo_estimate_scorer` bring the bound and the estimate into scikit-learn's own
search classes as scorers.
"""

from ..loo import leave_one_out
from ._display import LOOCurveDisplay
from ._search import (
    LOOBoundRandomizedSearchCV,
    LOOBoundSearchCV,
    loo_bound_scorer,
    loo_estimate_scorer,
)

__all__ = [
    "LOOBoundRandomizedSearchCV",
    "LOOBoundSearchCV",
    "LOOCurveDisplay",
    "leave_one_out",
    "loo_bound_scorer",
    "loo_estimate_scorer",
]

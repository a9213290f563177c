"""
=====================================================================
Choosing hyperparameters by leave-one-out: bound, estimate and replay
=====================================================================

A model trained by importance weights knows three leave-one-out (LOO) quantities of its
own run, each honest about what it is:

- ``loo_bound_``: a rigorous upper bound (the samples that were ever active plus the
  training errors among the others), loose;
- ``loo_estimate_``: an approximate LOO error computed from the recorded run at little
  extra cost, exact for the samples that were never active;
- :func:`~sklearn_iw.model_selection.leave_one_out`: the exact LOO error (equal to n
  refits), which re-runs only the ever-active samples, each from the epoch it first
  became active (``criterion='replay'``).

:class:`~sklearn_iw.LOOBoundSearchCV` ranks candidates by any of them after **one** fit
each (``criterion='estimate'``, ``'bound'`` or ``'replay'``), where
:class:`~sklearn.model_selection.GridSearchCV` with 5 folds needs five fits per candidate
and a refit. This example trains an MLP on the wine data over a range of margin scales
``p`` and draws, for each candidate, the bound, the estimate, the exact LOO error, the
5-fold cross-validation error and the error on a held-out quarter of the data.
"""

# %%
# Data, model and grid
# --------------------
# Full-batch importance-weights steps and a fixed number of epochs
# (``n_iter_no_change=max_iter``).
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWMLPClassifier, LOOBoundSearchCV
from sklearn_iw.model_selection import LOOCurveDisplay
from sklearn_iw.solvers import ImportanceWeights

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_wine(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        (
            "clf",
            IWMLPClassifier(
                (16,),
                optimizer=ImportanceWeights(C=1.0),
                batch_size="full",
                max_iter=50,
                n_iter_no_change=50,
                random_state=0,
            ),
        ),
    ]
)
grid = {"clf__optimizer__p": [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1]}

# %%
# The searches over the same grid
# -------------------------------
start = time.perf_counter()
loo = LOOBoundSearchCV(pipe, grid).fit(X_train, y_train)  # criterion='estimate'
loo_seconds = time.perf_counter() - start

start = time.perf_counter()
cv = GridSearchCV(pipe, grid, cv=5).fit(X_train, y_train)
cv_seconds = time.perf_counter() - start

print(f"LOOBoundSearchCV (estimate): {loo_seconds:.1f} s, chose {loo.best_params_}")
print(f"GridSearchCV(cv=5): {cv_seconds:.1f} s, chose {cv.best_params_}")
print(f"held-out accuracy: LOO estimate {loo.score(X_test, y_test):.3f}, ", end="")
print(f"cross-validation {cv.score(X_test, y_test):.3f}")

# %%
# Exact leave-one-out of every candidate
# --------------------------------------
# For the figure: the same grid ranked by the exact LOO error (``criterion='replay'``),
# whose ``cv_results_`` holds each candidate's bound, estimate and exact LOO error.
replay = LOOBoundSearchCV(pipe, grid, criterion="replay").fit(X_train, y_train)
results = replay.cv_results_
print("replay cost, as a fraction of n refits:", np.round(results["replay_cost_fraction"], 2))
p_values = np.array(grid["clf__optimizer__p"])

# %%
# Plot
# ----
# :class:`~sklearn_iw.model_selection.LOOCurveDisplay` draws the LOO errors of the
# candidates against ``p`` (on a log axis: it spans a factor 100). Left: the estimate,
# the exact LOO error and the error on the held-out quarter (each candidate trained again
# on the training part: the search keeps only the best model), with the 5-fold
# cross-validation error added; the dashed line marks the estimate's choice, the dotted
# one cross-validation's. Right: the bound, which counts every sample that was ever
# active, against the estimate and the exact LOO error.
fig, (ax_err, ax_bound) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
LOOCurveDisplay.from_search(
    replay,
    quantities=("loo_estimate", "loo_replay"),
    X=X_train,
    y=y_train,
    X_test=X_test,
    y_test=y_test,
    ax=ax_err,
)
cv_error = 1 - cv.cv_results_["mean_test_score"]
ax_err.plot(p_values, cv_error, "s-", color="C4", label="5-fold CV error")
ax_err.axvline(loo.best_params_["clf__optimizer__p"], color="C0", ls="--", lw=1)
ax_err.axvline(cv.best_params_["clf__optimizer__p"], color="C4", ls=":", lw=1.5)
ax_err.set(xlabel="margin scale p", title="Selection")
ax_err.legend()

LOOCurveDisplay.from_search(replay, ax=ax_bound)
ever_active = results["n_support"] / len(y_train)
ax_bound.plot(p_values, ever_active, "d--", color="C7", label="ever active / n")
ax_bound.set(xlabel="margin scale p", ylabel="error / share of samples")
ax_bound.set_title("The bound is rigorous but loose")
ax_bound.legend()
plt.show()

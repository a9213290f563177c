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
  became active.

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
from sklearn.base import clone
from sklearn.datasets import load_wine
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWMLPClassifier, LOOBoundSearchCV
from sklearn_iw.model_selection import leave_one_out
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
# Exact leave-one-out and held-out error of every candidate
# ---------------------------------------------------------
# For the figure: the exact LOO error of each candidate by replay (what
# ``criterion='replay'`` ranks by), and each candidate trained on the training part and
# scored on the held-out quarter.
results = loo.cv_results_
exact, cost = [], []
for params in results["params"]:
    replay = leave_one_out(clone(pipe).set_params(**params), X_train, y_train)
    exact.append(replay.error)
    cost.append(replay.cost_fraction)
held_out = np.array(
    [
        1 - clone(pipe).set_params(**params).fit(X_train, y_train).score(X_test, y_test)
        for params in results["params"]
    ]
)
print("replay cost, as a fraction of n refits:", np.round(cost, 2))
p_values = np.array(grid["clf__optimizer__p"])

# %%
# Plot
# ----
# Left: the estimate, the exact LOO error, the cross-validation error and the held-out
# error; the dashed line marks the estimate's choice, the dotted one cross-validation's.
# Right: the bound, which counts every sample that was ever active, against the estimate.
fig, (ax_err, ax_bound) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
ax_err.plot(p_values, results["loo_estimate"], "o-", label="loo_estimate_ (one fit)")
ax_err.plot(p_values, exact, "x-", label="exact LOO (leave_one_out)")
ax_err.plot(p_values, 1 - cv.cv_results_["mean_test_score"], "s-", label="5-fold CV error")
ax_err.plot(p_values, held_out, "^-", label="held-out error")
ax_err.axvline(loo.best_params_["clf__optimizer__p"], color="C0", ls="--", lw=1)
ax_err.axvline(cv.best_params_["clf__optimizer__p"], color="C2", ls=":", lw=1.5)
ax_err.set(xscale="log", xlabel="margin scale p", ylabel="error", title="Selection")
ax_err.legend()

ax_bound.plot(p_values, results["loo_bound"], "o-", color="C3", label="loo_bound_")
ax_bound.plot(p_values, results["n_support"] / len(y_train), "d--", label="ever active / n")
ax_bound.plot(p_values, results["loo_estimate"], "o-", color="C0", label="loo_estimate_")
ax_bound.plot(p_values, exact, "x-", color="C1", label="exact LOO")
ax_bound.set(xscale="log", xlabel="margin scale p", ylabel="error / share of samples")
ax_bound.set_title("The bound is rigorous but loose")
ax_bound.legend()
plt.show()

"""
=========================================================
Choosing hyperparameters by the leave-one-out bound
=========================================================

A model trained by importance weights bounds its own leave-one-out error:
``loo_bound_`` is the share of training samples that were active (``alpha_i > 0``) at
some step, plus the training errors among the others. :class:`~sklearn_iw.LOOBoundSearchCV`
ranks candidates by that bound after **one** fit each on all the training data, where
:class:`~sklearn.model_selection.GridSearchCV` with 5 folds needs five fits per candidate
and a refit.

This example trains an MLP on the breast-cancer data over a range of margin scales
``p`` and draws, for each candidate, the bound, the 5-fold cross-validation error and the
error on a held-out quarter of the data, together with the two parts of the bound. The
bound is loose (it counts every sample that ever pulled the weights), but it is a ranking
signal: compare its choice with cross-validation's on the held-out error.
"""

# %%
# Data, model and grid
# --------------------
# Full-batch importance-weights steps with small margins leave most samples inactive;
# ``n_iter_no_change=max_iter`` trains a fixed number of epochs (when the loss-based
# stopping rule fires, samples whose removal could move the stopping epoch count as
# errors in the bound).
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWMLPClassifier, LOOBoundSearchCV
from sklearn_iw.solvers import ImportanceWeights

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        (
            "clf",
            IWMLPClassifier(
                (64,),
                optimizer=ImportanceWeights(C=1.0),
                batch_size="full",
                max_iter=50,
                n_iter_no_change=50,
                random_state=0,
            ),
        ),
    ]
)
grid = {"clf__optimizer__p": [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2]}

# %%
# Both searches over the same grid
# --------------------------------
start = time.perf_counter()
loo = LOOBoundSearchCV(pipe, grid).fit(X_train, y_train)
loo_seconds = time.perf_counter() - start

start = time.perf_counter()
cv = GridSearchCV(pipe, grid, cv=5).fit(X_train, y_train)
cv_seconds = time.perf_counter() - start

print(f"LOOBoundSearchCV: {loo_seconds:.1f} s, chose {loo.best_params_}")
print(f"GridSearchCV(cv=5): {cv_seconds:.1f} s, chose {cv.best_params_}")
print(f"held-out accuracy: LOO bound {loo.score(X_test, y_test):.3f}, ", end="")
print(f"cross-validation {cv.score(X_test, y_test):.3f}")

# %%
# Held-out error of every candidate
# ---------------------------------
# For the figure only: each candidate trained on the training part and scored on the
# held-out quarter (the search keeps only the best candidate's model).
results = loo.cv_results_
held_out = np.array(
    [
        1 - clone(pipe).set_params(**params).fit(X_train, y_train).score(X_test, y_test)
        for params in results["params"]
    ]
)
p_values = np.array(grid["clf__optimizer__p"])
n_train = len(y_train)

# %%
# Plot
# ----
# Left: the bound, the cross-validation error and the held-out error; the dashed lines
# mark each search's choice. Right: the parts of the bound, the share of samples ever
# active (``n_support / n``) and the training error.
fig, (ax_err, ax_parts) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
ax_err.plot(p_values, results["loo_bound"], "o-", label="loo_bound_ (one fit)")
ax_err.plot(p_values, 1 - cv.cv_results_["mean_test_score"], "s-", label="5-fold CV error")
ax_err.plot(p_values, held_out, "^-", label="held-out error")
ax_err.axvline(loo.best_params_["clf__optimizer__p"], color="C0", ls="--", lw=1)
ax_err.axvline(cv.best_params_["clf__optimizer__p"], color="C1", ls=":", lw=1.5)
ax_err.set(xscale="log", xlabel="margin scale p", ylabel="error", title="Selection")
ax_err.legend()

ax_parts.plot(p_values, results["n_support"] / n_train, "o-", label="ever active / n")
ax_parts.plot(p_values, 1 - results["train_score"], "d-", label="training error")
ax_parts.plot(p_values, results["loo_bound"], "k--", lw=1, label="loo_bound_")
ax_parts.set(xscale="log", xlabel="margin scale p", ylabel="share of training samples")
ax_parts.set_title("What the bound counts")
ax_parts.legend()
plt.show()

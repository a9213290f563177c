"""
==================================
Importance weights on 2-D toy data
==================================

Importance-weights training solves, at every minibatch step, a small QP that gives each
sample an importance weight ``alpha_i`` in ``[0, C]``: how much the sample pulls the
weights. Samples whose requested loss decrease the others' pull already delivers get
``alpha_i = 0``, like the non-support vectors of an SVM.

This example draws, as scikit-learn's SVM examples do, the decision boundary of a linear
model (two Gaussian blobs) and of a small MLP (two moons) trained by importance weights.
Each training sample's marker area is proportional to its last importance weight
(``importance_weights_``), and the samples that were active at any step (``support_``)
are circled. Only they can change the model when left out, which gives the leave-one-out
bound ``loo_bound_``: the share of support samples plus the training errors among the
others.

Small margins (``p``) keep the support small: the bound is informative when most samples
are never needed.
"""

# %%
# Fit the two models
# ------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_blobs, make_moons
from sklearn.exceptions import ConvergenceWarning

from sklearn_iw import IWLogisticRegression, IWMLPClassifier
from sklearn_iw.solvers import ImportanceWeights

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X_blobs, y_blobs = make_blobs(
    n_samples=100, centers=[[-1.5, -1.0], [1.5, 1.0]], cluster_std=1.0, random_state=0
)
X_moons, y_moons = make_moons(n_samples=100, noise=0.15, random_state=0)

linear = IWLogisticRegression(
    optimizer=ImportanceWeights(p=0.005, C=1.0), max_iter=50, random_state=0
).fit(X_blobs, y_blobs)
mlp = IWMLPClassifier(
    (32,),
    activation="tanh",
    optimizer=ImportanceWeights(p=0.005, C=10.0),
    max_iter=150,
    random_state=0,
).fit(X_moons, y_moons)

for name, model, X, y in [("linear", linear, X_blobs, y_blobs), ("MLP", mlp, X_moons, y_moons)]:
    print(
        f"{name}: {len(model.support_)} of {len(X)} samples ever active, "
        f"loo_bound_ = {model.loo_bound_:.2f}, training accuracy = {model.score(X, y):.2f}"
    )


# %%
# Decision boundaries, importance weights and support
# ---------------------------------------------------
def plot_model(ax, model, X, y, title):
    """Draw the decision function, the samples sized by alpha, and the support."""
    x_min, x_max = X[:, 0].min() - 0.5, X[:, 0].max() + 0.5
    y_min, y_max = X[:, 1].min() - 0.5, X[:, 1].max() + 0.5
    xx, yy = np.meshgrid(np.linspace(x_min, x_max, 200), np.linspace(y_min, y_max, 200))
    scores = model.decision_function(np.c_[xx.ravel(), yy.ravel()]).reshape(xx.shape)
    limit = np.abs(scores).max()
    ax.contourf(xx, yy, scores, levels=20, cmap="RdBu", vmin=-limit, vmax=limit, alpha=0.4)
    ax.contour(xx, yy, scores, levels=[0.0], colors="k", linewidths=1.5)
    alpha = model.importance_weights_
    sizes = 15 + 400 * alpha / max(alpha.max(), 1e-12)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu", s=sizes, edgecolors="k", linewidths=0.5)
    support = model.support_
    ax.scatter(
        X[support, 0],
        X[support, 1],
        s=sizes[support] + 120,
        facecolors="none",
        edgecolors="gold",
        linewidths=2,
        label="support_ (ever active)",
    )
    ax.set_title(
        f"{title}\n|support_| = {len(support)}, loo_bound_ = {model.loo_bound_:.2f}",
        fontsize=10,
    )
    ax.set_xticks([])
    ax.set_yticks([])


fig, axes = plt.subplots(1, 2, figsize=(10, 4.6))
plot_model(axes[0], linear, X_blobs, y_blobs, "IWLogisticRegression, p=0.005, C=1")
plot_model(axes[1], mlp, X_moons, y_moons, "IWMLPClassifier (32 tanh), p=0.005, C=10")
axes[0].legend(loc="lower right", fontsize=8)
fig.suptitle("Marker area proportional to the last importance weight alpha_i")
fig.tight_layout()

# %%
# The bound during training
# -------------------------
# ``loo_bound_curve_`` holds the bound after every epoch. It can only grow through new
# active samples, and it shrinks as training errors among the others disappear.
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(linear.loo_bound_curve_, label="linear, blobs")
ax.plot(mlp.loo_bound_curve_, label="MLP, moons")
ax.set_xlabel("epoch")
ax.set_ylabel("loo_bound_")
ax.set_ylim(0, 1)
ax.legend()
fig.tight_layout()
plt.show()

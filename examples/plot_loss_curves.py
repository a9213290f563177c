"""
======================================
Loss curves of every optimizer, digits
======================================

Trains the same small MLP on the digits data set with each optimizer of
:mod:`sklearn_iw.solvers`, at the spec's default hyperparameters, and draws the training
loss (``loss_curve_``) per epoch and against wall time, as scikit-learn's
"Compare stochastic learning strategies for MLPClassifier" example does.

Minibatch rules (SGD, momentum, Nesterov, AdaGrad, RMSprop, Adadelta, Adam and
importance weights) take ``n / batch_size`` steps per epoch; the full-batch rules (GD,
Rprop, Quickprop, delta-delta, delta-bar-delta, L-BFGS) take one, so per epoch they look
slow, and the time axis puts them on an equal footing. The defaults are tuned for
networks on standardized data; see :doc:`/optimizers` for every rule.
"""

# %%
# Train one model per optimizer
# -----------------------------
import time
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_iw import IWMLPClassifier
from sklearn_iw.solvers import OPTIMIZERS

warnings.filterwarnings("ignore", category=ConvergenceWarning)

X, y = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.25, random_state=0)
scaler = StandardScaler().fit(X_train)
X_train = scaler.transform(X_train).astype(np.float32)
X_test = scaler.transform(X_test).astype(np.float32)

N_EPOCHS = 30
# A first small fit warms torch up, so that the times below are those of the fits.
IWMLPClassifier((8,), optimizer="sgd", max_iter=2).fit(X_train[:100], y_train[:100])
results = {}
for name in OPTIMIZERS:
    model = IWMLPClassifier(
        (32,),
        optimizer=name,
        batch_size=100,
        max_iter=N_EPOCHS,
        # Run every epoch: the curves are the point, not the stopping rule.
        tol=0.0,
        n_iter_no_change=N_EPOCHS,
        random_state=0,
    )
    start = time.perf_counter()
    model.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    results[name] = (model.loss_curve_, seconds, model.score(X_test, y_test))
    print(
        f"{name:>18}: final loss {model.loss_curve_[-1]:.4f}, "
        f"test accuracy {results[name][2]:.3f}, {seconds:.2f} s"
    )

# %%
# Training loss per epoch and against time
# ----------------------------------------
fig, (ax_epoch, ax_time) = plt.subplots(1, 2, figsize=(12, 5), sharey=True)
colors = plt.get_cmap("tab20")(np.linspace(0, 1, len(results)))
for (name, (curve, seconds, accuracy)), color in zip(results.items(), colors, strict=True):
    style = "--" if OPTIMIZERS[name].full_batch else "-"
    epochs = np.arange(1, len(curve) + 1)
    label = f"{name} (test acc {accuracy:.2f})"
    ax_epoch.plot(epochs, curve, style, color=color, label=label)
    ax_time.plot(epochs * seconds / len(curve), curve, style, color=color)
ax_epoch.set_yscale("log")
ax_epoch.set_xlabel("epoch")
ax_epoch.set_ylabel("training loss (log scale)")
ax_epoch.set_title("per epoch (dashed: full-batch rules)")
ax_time.set_xscale("log")
ax_time.set_xlabel("seconds, log scale (fit time spread evenly over the epochs)")
ax_time.set_title("against wall time")
ax_epoch.legend(fontsize=7, ncol=2)
fig.tight_layout()
plt.show()

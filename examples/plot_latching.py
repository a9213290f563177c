"""
=============================================
Latching: accuracy against the length of lag
=============================================

The latching task (:func:`sklearn_iw.datasets.make_latching`) gives the class only at the
first step of a sequence and noise afterwards, so a classifier that reads the sequence to
its end must hold one value over ``seq_len - 1`` steps. This example trains
:class:`~sklearn_iw.IWLSTMClassifier` with importance weights, Adam and plain SGD for a
fixed number of epochs on growing lags and draws the test accuracy of each.

All three use ``forget_bias=3``: the forget gates start nearly closed to forgetting and
the input gates nearly closed to noise (chrono-style initialisation), without which no
gradient rule bridges 100 steps in a few epochs. See ``benchmarks/bench_lstm.py`` for
the longest lags each optimizer solves in ten minutes.
"""

# %%
# Train one model per optimizer and lag
# -------------------------------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning

from sklearn_iw import IWLSTMClassifier
from sklearn_iw.datasets import make_latching
from sklearn_iw.solvers import SGD, Adam

warnings.filterwarnings("ignore", category=ConvergenceWarning)

lags = [10, 40, 100]
optimizers = {
    "importance weights": "importance_weights",
    "Adam(lr=0.01)": Adam(lr=0.01),
    "SGD(lr=1)": SGD(lr=1.0),
}
accuracy = {name: [] for name in optimizers}
for seq_len in lags:
    X, y = make_latching(n_samples=800, seq_len=seq_len, noise=0.1, random_state=0)
    X = X.astype(np.float32)
    X_train, y_train, X_test, y_test = X[:400], y[:400], X[400:], y[400:]
    for name, optimizer in optimizers.items():
        clf = IWLSTMClassifier(
            hidden_size=16,
            forget_bias=3.0,
            batch_size=50,
            max_iter=10,
            optimizer=optimizer,
            random_state=0,
        )
        accuracy[name].append(clf.fit(X_train, y_train).score(X_test, y_test))
        print(f"seq_len={seq_len:4d}  {name:20s} test accuracy {accuracy[name][-1]:.3f}")

# %%
# Test accuracy against the lag
# -----------------------------
fig, ax = plt.subplots(figsize=(6, 4))
for name, values in accuracy.items():
    ax.plot(lags, values, marker="o", label=name)
ax.axhline(0.5, color="gray", linestyle=":", label="chance")
ax.set_xlabel("sequence length (steps the first value must be held)")
ax.set_ylabel("test accuracy after 10 epochs")
ax.set_ylim(0.4, 1.02)
ax.legend()
ax.set_title("Latching with IWLSTMClassifier")
plt.tight_layout()
plt.show()

"""
=================================================
An LSTM finds a planted motif in DNA-like strings
=================================================

Random strings over ``ACGT`` of varying length; the positive class carries the motif
``TATAAT`` (the bacterial -10 promoter box) at a random position, the negative class
does not. :class:`~sklearn_iw.IWLSTMClassifier` reads the strings directly: they are
one-hot encoded over the alphabet learned in ``fit``, padded per batch, and each
sequence is read up to its own last letter. A window of 3 letters is fed at each step.

The learning curve shows the training loss (``loss_curve_``) and, for importance
weights, the leave-one-out bound per epoch (``loo_bound_curve_``).
"""

# %%
# Make the data
# -------------
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split

from sklearn_iw import IWLSTMClassifier
from sklearn_iw.solvers import ImportanceWeights

warnings.filterwarnings("ignore", category=ConvergenceWarning)

rng = np.random.default_rng(0)
MOTIF = "TATAAT"


def random_strand(length):
    return "".join(rng.choice(list("ACGT"), size=length))


strings, labels = [], []
for i in range(600):
    s = random_strand(int(rng.integers(20, 41))).replace(MOTIF, "TATCAT")
    if i % 2:
        at = int(rng.integers(0, len(s) - len(MOTIF) + 1))
        s = s[:at] + MOTIF + s[at + len(MOTIF) :]
    strings.append(s)
    labels.append(i % 2)
X_train, X_test, y_train, y_test = train_test_split(
    strings, labels, test_size=0.3, random_state=0, stratify=labels
)
print(X_train[:3], y_train[:3])

# %%
# Train with importance weights
# -----------------------------
clf = IWLSTMClassifier(
    hidden_size=16,
    window=3,
    optimizer=ImportanceWeights(p=0.02),
    max_iter=15,
    random_state=0,
)
clf.fit(X_train, y_train)
print(f"alphabet: {clf.alphabet_}, test accuracy: {clf.score(X_test, y_test):.3f}")
print(f"leave-one-out bound: {clf.loo_bound_:.3f} ({len(clf.support_)} support sequences)")

# %%
# Learning curve
# --------------
fig, ax = plt.subplots(figsize=(6, 4))
epochs = np.arange(1, clf.n_iter_ + 1)
ax.plot(epochs, clf.loss_curve_, marker="o", label="training loss")
ax.plot(epochs, clf.loo_bound_curve_, marker="s", label="leave-one-out bound")
ax.set_xlabel("epoch")
ax.legend()
ax.set_title("IWLSTMClassifier on strings with a planted motif")
plt.tight_layout()
plt.show()

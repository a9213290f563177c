"""Synthetic data sets for sequence classifiers."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_latching"]


@validate_params(
    {
        "n_samples": [Interval(Integral, 1, None, closed="left")],
        "seq_len": [Interval(Integral, 1, None, closed="left")],
        "n_classes": [Interval(Integral, 2, None, closed="left")],
        "noise": [Interval(Real, 0, None, closed="left")],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_latching(
    n_samples: int = 1000,
    seq_len: int = 100,
    n_classes: int = 2,
    noise: float = 0.447,
    random_state=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate the "latching" task: the class is given only at the first step.

    Each sequence starts with a class code and continues with ``seq_len - 1`` steps of
    Gaussian noise that carry no information, so a classifier reading the sequence to
    its end must hold ("latch") the first value over ``seq_len - 1`` steps. The class
    codes are ``n_classes`` values evenly spaced in [-1, 1] (-1 and 1 for two classes);
    the noise is ``N(0, noise**2)`` and independent of the class.

    This is the long-time-lag problem with signal and noise on the same input channel
    that Bengio, Simard and Frasconi (1994) used to show why gradient descent struggles
    to learn long-term dependencies, and on which Hochreiter and Schmidhuber (1997)
    demonstrated the LSTM (their experiment 2's noisy variant, with Gaussian noise of
    variance 0.2: the default ``noise=0.447``, i.e. ``sqrt(0.2)``).

    Parameters
    ----------
    n_samples : int, default=1000
        Number of sequences.
    seq_len : int, default=100
        Length of every sequence (the first step carries the class).
    n_classes : int, default=2
        Number of classes, balanced up to one sample.
    noise : float, default=0.447
        Standard deviation of the noise steps. The default is ``sqrt(0.2)`` rounded: the
        noise of Hochreiter and Schmidhuber (1997), of variance 0.2.
    random_state : int, RandomState instance or None, default=None
        Seed of the class order and the noise.

    Returns
    -------
    X : ndarray of shape (n_samples, seq_len)
        The sequences, one per row (the 2D input form of ``IWLSTMClassifier``).
    y : ndarray of shape (n_samples,)
        The class of each sequence, ``0 .. n_classes - 1``.

    References
    ----------
    .. [1] Y. Bengio, P. Simard and P. Frasconi, "Learning long-term dependencies with
       gradient descent is difficult", IEEE Transactions on Neural Networks 5(2), 1994.
    .. [2] S. Hochreiter and J. Schmidhuber, "Long short-term memory", Neural
       Computation 9(8), 1997.

    Examples
    --------
    >>> from sklearn_iw.datasets import make_latching
    >>> X, y = make_latching(n_samples=4, seq_len=5, random_state=0)
    >>> X.shape, y.shape
    ((4, 5), (4,))
    >>> bool(((X[:, 0] == 1.0) == (y == 1)).all())
    True
    """
    rng = check_random_state(random_state)
    y = rng.permutation(np.arange(n_samples) % n_classes)
    X = rng.normal(scale=noise, size=(n_samples, seq_len))
    X[:, 0] = np.linspace(-1.0, 1.0, n_classes)[y]
    return X, y

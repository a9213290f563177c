"""Synthetic data sets for sequence classifiers: latching series and motif strings."""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, validate_params

__all__ = ["make_latching", "make_motif_strings"]


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


@validate_params(
    {
        "n_samples": [Interval(Integral, 2, None, closed="left")],
        "n_motifs": [Interval(Integral, 1, None, closed="left")],
        "motif_length": [Interval(Integral, 1, None, closed="left")],
        "flank": [Interval(Integral, 0, None, closed="left")],
        "label_noise": [Interval(Real, 0, 0.5, closed="both")],
        "alphabet": [str],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def make_motif_strings(
    n_samples: int = 1000,
    n_motifs: int = 2,
    motif_length: int = 5,
    flank: int = 25,
    label_noise: float = 0.03,
    alphabet: str = "ACGT",
    random_state=None,
) -> tuple[np.ndarray, np.ndarray]:
    """Generate strings whose class is a word at a fixed position among random letters.

    Each string is ``2 * flank + motif_length`` letters drawn uniformly from
    ``alphabet``, with a word of ``motif_length`` letters at its centre: one of
    ``n_motifs`` distinct random words (the motif's variants, drawn once, equally
    often) for class 1, any other word for class 0. The classes alternate before a
    shuffle, and a fraction ``label_noise`` of the labels is then flipped. A variant may
    still occur by chance in the flanks, so that the position matters. This is the
    shape of splice-site and transcription-factor binding-site tasks.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of strings.
    n_motifs : int, default=2
        Number of variants of the motif (at most ``len(alphabet) ** motif_length - 1``).
    motif_length : int, default=5
        Letters of the motif.
    flank : int, default=25
        Letters on each side of the motif.
    label_noise : float, default=0.03
        Fraction of the labels flipped (expected).
    alphabet : str, default="ACGT"
        The letters, each a single character.
    random_state : int, RandomState instance or None, default=None
        Seed of the variants, the strings and the label noise.

    Returns
    -------
    X : ndarray of str of shape (n_samples,)
        The strings (the string input form of ``IWLSTMClassifier``).
    y : ndarray of shape (n_samples,)
        The labels, 0 or 1, after the label noise.

    Examples
    --------
    >>> from sklearn_iw.datasets import make_motif_strings
    >>> X, y = make_motif_strings(n_samples=6, n_motifs=2, motif_length=3, flank=4,
    ...                           label_noise=0.0, random_state=0)
    >>> X.shape, len(X[0]), sorted(set(y.tolist()))
    ((6,), 11, [0, 1])
    >>> len({x[4:7] for x, label in zip(X, y) if label == 1}) <= 2
    True
    """
    letters = np.array(list(alphabet))
    n_words = len(letters) ** motif_length
    if len(set(alphabet)) != len(alphabet) or n_motifs >= n_words:
        raise ValueError(
            f"alphabet must hold distinct letters and n_motifs={n_motifs} must be below "
            f"len(alphabet) ** motif_length = {n_words}"
        )
    rng = check_random_state(random_state)
    motifs: set[str] = set()
    while len(motifs) < n_motifs:
        motifs.add("".join(rng.choice(letters, motif_length)))
    variants = sorted(motifs)
    y = rng.permutation(np.arange(n_samples) % 2)
    strings = []
    for label in y:
        if label:
            word = variants[rng.randint(n_motifs)]
        else:
            word = variants[0]
            while word in motifs:
                word = "".join(rng.choice(letters, motif_length))
        left, right = rng.choice(letters, flank), rng.choice(letters, flank)
        strings.append("".join(left) + word + "".join(right))
    flip = rng.random_sample(n_samples) < label_noise
    return np.array(strings), np.where(flip, 1 - y, y)

"""Sequence inputs of :class:`IWLSTMClassifier` turned into one padded float array.

Every accepted form -- 2D numeric ``(n, T)``, 3D numeric ``(n, T, d)``, a list of
``(T_i, d)`` arrays of varying length, strings over an alphabet -- becomes an array of shape
``(n, T_max, 1 + d * window)``. Channel 0 flags the real steps of each sequence (1.0) and
padding (0.0); the other channels hold the (windowed) step features, zero on padding. The
module reads each sequence's length from channel 0, so a padded batch is one tensor that
the engine slices like any tabular batch.
"""

from __future__ import annotations

import numpy as np
from sklearn.utils.validation import check_array

__all__ = ["SequenceEncoder", "padded_sequences"]


def _is_text(value) -> bool:
    return isinstance(value, str | np.str_)


def _finite_sequence(seq, index: int) -> np.ndarray:
    """One numeric sequence as a finite float array of shape (T_i, d)."""
    try:
        arr = check_array(
            seq,
            ensure_2d=False,
            allow_nd=False,
            dtype=(np.float64, np.float32),
            ensure_min_samples=0,
            input_name=f"X[{index}]",
        )
    except ValueError as exc:
        raise ValueError(f"Sequence {index} is invalid: {exc}") from exc
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(
            f"Sequence {index} is empty (shape {arr.shape}); every sequence needs at least "
            "one step."
        )
    return arr


def padded_sequences(sequences: list[np.ndarray], dtype) -> np.ndarray:
    """Stack ``(T_i, d)`` arrays into ``(n, T_max, 1 + d)`` with the step flag in channel 0."""
    lengths = np.array([len(s) for s in sequences])
    n_dims = sequences[0].shape[1]
    out = np.zeros((len(sequences), lengths.max(), 1 + n_dims), dtype=dtype)
    for row, seq in zip(out, sequences, strict=True):
        row[: len(seq), 0] = 1.0
        row[: len(seq), 1:] = seq
    return out


def _windowed(X: np.ndarray, window: int) -> np.ndarray:
    """Concatenate the features of steps ``t - window//2 ... t + window//2`` at every step.

    Steps outside a sequence (before its start or after its own end) contribute zeros; the
    features of padding steps stay zero.
    """
    if window == 1:
        return X
    mask, feats = X[..., :1], X[..., 1:]
    half = window // 2
    n, steps, n_dims = feats.shape
    padded = np.zeros((n, steps + 2 * half, n_dims), dtype=X.dtype)
    padded[:, half : half + steps] = feats
    shifted = [padded[:, offset : offset + steps] for offset in range(window)]
    return np.concatenate([mask, np.concatenate(shifted, axis=2) * mask], axis=2)


class SequenceEncoder:
    """Validate sequence input and encode it as a padded, windowed array.

    Numeric input reaches :meth:`fit` and :meth:`transform` as a 3D array or a list of
    arrays (the estimator turns validated 2D input into a ``(n, T, 1)`` array first);
    strings arrive as they are.

    Parameters
    ----------
    window : int
        Odd number of consecutive steps fed together at each step.
    alphabet : str, sequence of str or None
        Letters of string inputs; None learns them from the training strings.

    Attributes
    ----------
    form : {'numbers', 'strings'}
        Kind of the training input.
    n_step_features : int
        Features per step before windowing (the alphabet size for strings).
    letters : ndarray of str
        The sorted letters of string inputs (strings only).
    """

    def __init__(self, window: int, alphabet):
        self.window = window
        self.alphabet = alphabet

    @staticmethod
    def detect_form(X) -> str:
        """'columns' (2D numeric), 'sequences' (3D or ragged numeric) or 'strings'.

        Raises
        ------
        ValueError
            If strings are mixed with numbers, or strings are not one per sample.
        """
        if hasattr(X, "iloc") or hasattr(X, "toarray") or _is_text(X):
            return "columns"  # DataFrames and sparse matrices: validate_data handles them
        if isinstance(X, np.ndarray) and X.dtype != object:
            if X.dtype.kind in "US":
                if X.ndim != 1:
                    raise ValueError(
                        f"String sequences must be a 1D collection, got shape {X.shape}."
                    )
                return "strings"
            return "sequences" if X.ndim == 3 else "columns"
        try:
            items = list(X)
        except TypeError:
            return "columns"  # let validate_data describe the problem
        text = [_is_text(item) for item in items]
        if items and all(text):
            return "strings"
        if any(text):
            raise ValueError(
                "X mixes strings with other values; pass either strings or numeric sequences."
            )
        if not items or any(np.ndim(item) == 0 for item in items):
            return "columns"
        shapes = {np.shape(item) for item in items}
        if len(shapes) == 1 and len(next(iter(shapes))) == 1:
            return "columns"  # rows of equal length: a 2D array
        return "sequences"

    def fit(self, X) -> np.ndarray:
        """Learn the kind of input, its step features and alphabet; return the encoding."""
        if self.detect_form(X) == "strings":
            self.form = "strings"
            strings = self._strings(X)
            if self.alphabet is None:
                letters = sorted(set("".join(strings)))
            else:
                letters = sorted(set(self.alphabet))
                if not letters or any(not _is_text(c) or len(c) != 1 for c in letters):
                    raise ValueError(
                        "alphabet must be a string or a sequence of single letters, got "
                        f"{self.alphabet!r}."
                    )
            self.letters = np.array(letters)
            self.n_step_features = len(letters)
            return self._encode_strings(strings)
        self.form = "numbers"
        sequences = self._numeric(X)
        self.n_step_features = sequences[0].shape[1]
        return self._encode_numeric(sequences)

    def transform(self, X) -> np.ndarray:
        """Encode prediction input like the training input."""
        form = "strings" if self.detect_form(X) == "strings" else "numbers"
        if form != self.form:
            names = {"strings": "strings", "numbers": "numeric sequences"}
            raise ValueError(f"The model was fitted on {names[self.form]}, got {names[form]}.")
        if form == "strings":
            return self._encode_strings(self._strings(X))
        sequences = self._numeric(X)
        if sequences[0].shape[1] != self.n_step_features:
            raise ValueError(
                f"X has {sequences[0].shape[1]} features per step, but the model was fitted "
                f"with {self.n_step_features} features per step."
            )
        return self._encode_numeric(sequences)

    # ------------------------------------------------------------------ strings
    @staticmethod
    def _strings(X) -> list[str]:
        strings = [str(s) for s in X]
        if not strings:
            raise ValueError("Found 0 sequences while a minimum of 1 is required.")
        empty = [i for i, s in enumerate(strings) if not s]
        if empty:
            raise ValueError(
                f"Sequence {empty[0]} is an empty string; every sequence needs at least one letter."
            )
        return strings

    def _encode_strings(self, strings: list[str]) -> np.ndarray:
        lengths = np.array([len(s) for s in strings])
        codes = np.frombuffer("".join(strings).encode("utf-32-le"), dtype=np.uint32)
        letters = np.frombuffer("".join(self.letters).encode("utf-32-le"), dtype=np.uint32)
        position = np.searchsorted(letters, codes).clip(max=len(letters) - 1)
        known = letters[position] == codes  # unseen letters become all-zero steps
        rows = np.repeat(np.arange(len(strings)), lengths)
        steps = np.arange(len(codes)) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        X = np.zeros((len(strings), lengths.max(), 1 + len(letters)), dtype=np.float32)
        X[rows, steps, 0] = 1.0
        X[rows[known], steps[known], 1 + position[known]] = 1.0
        return _windowed(X, self.window)

    # ------------------------------------------------------------------ numbers
    @staticmethod
    def _numeric(X) -> np.ndarray | list[np.ndarray]:
        """A finite 3D array, or a list of arrays as a list of finite ``(T_i, d)`` arrays."""
        if isinstance(X, np.ndarray) and X.ndim == 3 and X.dtype != object:
            X = check_array(X, allow_nd=True, dtype=(np.float64, np.float32), input_name="X")
            if X.shape[1] == 0 or X.shape[2] == 0:
                raise ValueError(f"X holds empty sequences (shape {X.shape}).")
            return X
        sequences = [_finite_sequence(seq, i) for i, seq in enumerate(X)]
        if not sequences:
            raise ValueError("Found 0 sequences while a minimum of 1 is required.")
        dims = sorted({s.shape[1] for s in sequences})
        if len(dims) > 1:
            raise ValueError(
                f"All sequences must have the same number of features per step, got {dims}."
            )
        return sequences

    def _encode_numeric(self, sequences: np.ndarray | list[np.ndarray]) -> np.ndarray:
        if isinstance(sequences, np.ndarray):  # equal lengths: no padding
            flags = np.ones(sequences.shape[:2] + (1,), dtype=sequences.dtype)
            return _windowed(np.concatenate([flags, sequences], axis=2), self.window)
        dtype = np.result_type(*{s.dtype for s in sequences})
        return _windowed(padded_sequences(sequences, dtype), self.window)

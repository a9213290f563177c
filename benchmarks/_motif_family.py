"""A generated family of motif tasks for the string classifiers (``bench_defaults.py``).

Twelve tasks of :func:`sklearn_iw.datasets.make_motif_strings` spread over the family the
defaults are judged on: 2 to 4 variants of a motif of 4 to 6 letters at the centre of
random ACGT flanks of 20 to 40 letters, 1% to 5% label noise, 800 to 1500 strings. Each
task draws its own variants (its seed is its number), so that no default is taken on
one motif.
"""

from __future__ import annotations

from _real_data import DataSet

from sklearn_iw.datasets import make_motif_strings

__all__ = ["MOTIF_TASKS", "motif_set"]

# name: (variants, motif length, flank, label noise, strings)
MOTIF_TASKS = {
    "motif-01": (2, 4, 20, 0.01, 800),
    "motif-02": (2, 5, 30, 0.03, 1000),
    "motif-03": (2, 6, 40, 0.05, 1500),
    "motif-04": (3, 4, 20, 0.03, 1200),
    "motif-05": (3, 5, 30, 0.05, 800),
    "motif-06": (3, 6, 40, 0.01, 1000),
    "motif-07": (4, 4, 20, 0.05, 1000),
    "motif-08": (4, 5, 30, 0.01, 1500),
    "motif-09": (4, 6, 40, 0.03, 800),
    "motif-10": (2, 5, 25, 0.02, 1200),
    "motif-11": (3, 4, 35, 0.04, 1500),
    "motif-12": (4, 6, 25, 0.02, 1200),
}


def motif_set(name: str) -> DataSet:
    """The generated strings of one task of :data:`MOTIF_TASKS` (kind 'strings').

    Parameters
    ----------
    name : str
        A key of :data:`MOTIF_TASKS`.

    Returns
    -------
    DataSet
    """
    n_motifs, length, flank, noise, n = MOTIF_TASKS[name]
    X, y = make_motif_strings(
        n, n_motifs, length, flank, noise, random_state=int(name.split("-")[1])
    )
    note = f"{n_motifs} variants of {length} letters, flanks {flank}, label noise {noise:.0%}"
    return DataSet(name, "strings", X, y, note=note)

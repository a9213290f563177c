"""The data the engine trains on: tensors on the training device, keyed and plain batches.

The estimator validates and encodes the data, then hands the engine a :class:`Feed`: the
training (and validation) samples as tensors, and how this fit call feeds them (batch
size, weight scale, L2 coefficient, the generator of the batch order). Batches are sliced
from those tensors directly rather than through a ``DataLoader`` (a measured 2x on small
models). Keyed batches hash each sample's content (and its copy number among equal
samples), so that removing a sample leaves every other batch unchanged (the leave-one-out
lemma of importance weights needs this).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

# Feature values hashed at a time by content_keys (its temporaries: 8 bytes each).
_KEY_BLOCK = 1 << 20


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijective avalanche hash of uint64 values."""
    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def content_keys(X: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """A 64-bit hash of each sample's features, label and weight (unless 1), independent
    of its position.

    Equal samples get equal hashes (:func:`sample_keys` tells them apart). Trailing zeros
    of a row are not hashed: padded sequences keep their keys when the padding length
    changes with the data set. Large arrays are hashed in blocks of rows, so the
    temporaries stay small.
    """
    rows = max(1, _KEY_BLOCK // max(1, math.prod(X.shape[1:])))
    if len(X) > rows:
        parts = []
        for i in range(0, len(X), rows):
            block_weight = None if weight is None else weight[i : i + rows]
            parts.append(content_keys(X[i : i + rows], y[i : i + rows], block_weight))
        return np.concatenate(parts)
    X = np.ascontiguousarray(X).reshape(len(X), -1)
    bits = X.view(np.uint64) if X.dtype.itemsize == 8 else X.view(np.uint32).astype(np.uint64)
    labels = np.ascontiguousarray(y, dtype=np.float64).reshape(len(X), -1).view(np.uint64)
    nonzero = X != 0
    row_length = np.where(nonzero.any(axis=1), X.shape[1] - np.argmax(nonzero[:, ::-1], axis=1), 0)
    keys = np.zeros(len(X), dtype=np.uint64)
    for column in labels.T:
        keys = _mix64(keys ^ column)
    if weight is not None:  # a weight of 1 is not hashed: unweighted samples keep their keys
        weight = np.ascontiguousarray(weight, dtype=np.float64)
        keys = np.where(weight != 1.0, _mix64(keys ^ weight.view(np.uint64)), keys)
    for j, column in enumerate(bits.T):
        keys = np.where(j < row_length, _mix64(keys ^ column), keys)
    return keys


def sample_keys(
    X: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The keys of keyed batches, and each sample's stand-in for leave-one-out.

    Keyed batches are drawn from the keys, so that deleting a sample from the data set
    leaves every other sample's batch unchanged. Equal samples (features, label and
    weight) must not share a batch: a table with repeated rows (categorical features)
    would see each batch hold all copies of a few rows, and every step would fit those.
    So the ``m``-th copy (``m`` counted from 0 in the order of the data) hashes its
    content key with ``m``; the first keeps the content key.

    Deleting copy ``m`` renumbers the later copies down, which makes the run without
    it the run without the *last* copy: that one is every copy's stand-in.

    Parameters
    ----------
    X : numpy.ndarray
        Inputs, first dimension indexes samples.
    y : numpy.ndarray
        Encoded targets.
    weight : numpy.ndarray or None, default=None
        Per-sample weights as given (before any scaling by the data set's mean weight).

    Returns
    -------
    keys : numpy.ndarray of uint64
        The keys of keyed batches.
    stand_in : numpy.ndarray of int
        For each sample, the index of the sample whose deletion gives the same run as
        its own: itself, or the last of its copies.
    """
    content = content_keys(X, y, weight)
    _, group = np.unique(content, return_inverse=True)
    by_group = np.argsort(group, kind="stable")  # copies in the order of the data
    first = np.r_[0, np.flatnonzero(np.diff(group[by_group])) + 1]
    sizes = np.diff(np.r_[first, len(content)])
    occurrence = np.empty(len(content), dtype=np.uint64)
    occurrence[by_group] = np.arange(len(content)) - np.repeat(first, sizes)
    keys = np.where(occurrence > 0, _mix64(content ^ _mix64(occurrence)), content)
    stand_in = np.empty(len(content), dtype=np.int64)
    stand_in[by_group] = np.repeat(by_group[first + sizes - 1], sizes)
    return keys, stand_in


def shared_tensor(array: np.ndarray, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """``array`` as a tensor on ``device``, sharing its memory where dtype and device allow.

    Read-only arrays (memory-mapped data) are shared too, without torch's warning about
    them: training never writes to its inputs.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.as_tensor(array, dtype=dtype, device=device)


@dataclass
class TensorData:
    """Training or validation samples held as tensors on the training device.

    Parameters
    ----------
    X : torch.Tensor
        Inputs, first dimension indexes samples.
    y : torch.Tensor
        Encoded targets (class indices or a 0/1 matrix for classifiers, values for
        regressors).
    weight : torch.Tensor
        Per-sample weights (sample_weight, times class weight for classifiers), shape
        (n_samples,).
    key : numpy.ndarray or None, default=None
        The keys of keyed batches (:func:`sample_keys`), else None.
    stand_in : numpy.ndarray or None, default=None
        With keys: each sample's leave-one-out stand-in (:func:`sample_keys`).
    """

    X: torch.Tensor
    y: torch.Tensor
    weight: torch.Tensor
    key: np.ndarray | None = None
    stand_in: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.y)

    def take(self, index: torch.Tensor) -> TensorData:
        """Return the samples ``index`` (in that order) as a new :class:`TensorData`."""
        return TensorData(
            self.X.index_select(0, index), self.y.index_select(0, index), self.weight[index]
        )


@dataclass(frozen=True)
class Feed:
    """What one fit call hands the engine: the data and how to feed it.

    Parameters
    ----------
    train : TensorData
        The training samples.
    valid : TensorData or None
        The validation samples (``early_stopping``), else None.
    batch_size : int
        Training samples per batch.
    weight_scale : float
        Mean per-sample weight of the training set, by which ``train.weight`` has been
        divided (the weights have mean 1, so tiny weights survive float32). A batch loss
        is ``sum(w_i * E_i) / len(batch)``, an unbiased estimate of the weighted mean loss
        that equals it on the full batch; per-sample optimizers get the weights times
        this scale (importance weights' bounds ``C_i = C * w_i``).
    l2_coef : float
        Coefficient ``c`` of the penalty ``c / 2 * sum ||W||^2`` over weight matrices
        (parameters with two or more dimensions; biases are not penalised), or of the
        decoupled weight decay ``W <- W / (1 + lr * c)`` of optimizers that ask for it.
    generator : torch.Generator or None, default=None
        CPU generator of the batch order (None: torch's global generator).
    dropout_generator : torch.Generator or None, default=None
        Generator of the dropout masks, on the training device (the engine hands it to
        the module's :class:`~._dropout.SeededDropout` layers).
    """

    train: TensorData
    valid: TensorData | None
    batch_size: int
    weight_scale: float
    l2_coef: float
    generator: torch.Generator | None = None
    dropout_generator: torch.Generator | None = None


def eval_forward(module: torch.nn.Module, X: torch.Tensor) -> torch.Tensor:
    """Outputs of ``module`` in eval mode without gradients, in chunks of 8192 samples."""
    module.eval()
    with torch.no_grad():
        if not len(X):
            return module(X)
        return torch.cat([module(chunk) for chunk in X.split(8192)])


class TensorBatches:
    """Re-iterable minibatches over a :class:`TensorData`, reshuffled at every pass.

    Parameters
    ----------
    data : TensorData
        The samples.
    batch_size : int
        Samples per batch (the last batch may be smaller; keyed batches vary around it).
    shuffle : bool
        Draw a new order at each pass. Plain batches use a permutation drawn from
        ``generator`` (seeded by the estimator from ``random_state``). When ``data.key`` is
        set, pass ``e`` puts each sample in bucket ``floor(u * n_batches)`` with
        ``u = hash(key, seed, e)`` uniform in [0, 1): membership depends only on the
        sample's own content, so deleting a sample leaves the other batches unchanged.
    seed : int, default=0
        Seed of keyed batches.
    first_epoch : int, default=0
        Number of passes made before (continued fits draw new batches).
    generator : torch.Generator or None, default=None
        CPU generator of the plain permutations; None uses torch's global one.
    """

    def __init__(
        self,
        data: TensorData,
        batch_size: int,
        shuffle: bool,
        seed: int = 0,
        first_epoch: int = 0,
        generator: torch.Generator | None = None,
    ):
        self.data = data
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = first_epoch
        self.generator = generator

    def __len__(self) -> int:
        return -(-len(self.data) // self.batch_size)

    def _keyed_order(self) -> tuple[torch.Tensor, list[int]]:
        n_batches = len(self)
        salt = _mix64(np.array([self.seed * 1_000_003 + self.epoch], dtype=np.uint64))
        unit = (_mix64(self.data.key ^ salt) >> np.uint64(11)) * 2.0**-53
        bucket = np.minimum((unit * n_batches).astype(np.int64), n_batches - 1)
        order = np.argsort(bucket, kind="stable")
        sizes = np.bincount(bucket, minlength=n_batches)
        return torch.from_numpy(order).to(self.data.y.device), sizes[sizes > 0].tolist()

    def __iter__(self) -> Iterator[tuple]:
        data = self.data
        n = len(data)
        gather = self.shuffle and (data.key is not None or n > self.batch_size)
        if gather and data.key is not None:
            order, sizes = self._keyed_order()
        elif gather:
            order, sizes = torch.randperm(n, generator=self.generator).to(data.y.device), None
        else:
            order, sizes = torch.arange(n, device=data.y.device), None
        if sizes is None:
            sizes = [min(self.batch_size, n - start) for start in range(0, n, self.batch_size)]
        self.epoch += 1
        if gather:
            # One gather per epoch makes every batch a contiguous slice (a view): cheaper
            # than gathering each batch. A single unshuffled batch needs no copy.
            data = data.take(order)
        # One split per tensor and epoch instead of four slices per batch.
        parts = [t.split(sizes) for t in (data.X, data.y, data.weight, order)]
        for X, y, weight, index in zip(*parts, strict=True):
            yield X, (y, weight, index)

"""The stopping rule, written once: no improvement by ``tol`` in ``patience`` epochs.

:class:`StoppingRule` is the rule's state for several runs at once, vectorised;
:class:`EpochStopping` is the engine's callback that applies it to the run, and, where
leave-one-out needs it, to every run without one sample at the same time: while sample
``k`` was never active that run's epoch loss is ``(S - w_k E_k) / (W - w_k)``, from each
sample's loss ``E_k`` at its visit in the epoch (``S`` the weighted sum, ``W`` the sum of
weights). The rule is skorch's ``EarlyStopping`` with an absolute threshold; it is
written here because skorch's holds one run's state and leave-one-out needs ``n + 1``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from skorch.callbacks import Callback

from ..utils._numerics import NUMERICAL_ERRORS, failure_reason, is_numerical


class StoppingRule:
    """The state of the rule for ``n_runs`` runs (lower scores are better).

    Parameters
    ----------
    n_runs : int
        Number of runs.
    patience : int
        Epochs without improvement after which a run stops.
    tol : float
        Improvement (absolute) that resets a run's count of misses.
    device : torch.device
        Device of the state tensors.

    Attributes
    ----------
    best : torch.Tensor
        (n_runs,) the threshold a score must fall below to count as an improvement.
    misses : torch.Tensor
        (n_runs,) epochs since the last improvement.
    stopped_at : torch.Tensor
        (n_runs,) the epoch each run stopped at, -1 while it runs.
    lowest : torch.Tensor
        (n_runs,) the lowest score of each run so far (up to the epoch it stopped at).
    lowest_epoch : torch.Tensor
        (n_runs,) the epoch of that score (the first, on ties), -1 before any: the epoch
        whose weights the run keeps.
    """

    _STATE = ("best", "misses", "stopped_at", "lowest", "lowest_epoch")

    def __init__(self, n_runs: int, patience: int, tol: float, device: torch.device):
        self.patience = patience
        self.tol = tol
        self.best = torch.full((n_runs,), float("inf"), dtype=torch.float64, device=device)
        self.misses = torch.zeros(n_runs, dtype=torch.long, device=device)
        self.stopped_at = torch.full((n_runs,), -1, dtype=torch.long, device=device)
        self.lowest = torch.full((n_runs,), float("inf"), dtype=torch.float64, device=device)
        self.lowest_epoch = torch.full((n_runs,), -1, dtype=torch.long, device=device)

    def update(self, scores: torch.Tensor, epoch: int) -> None:
        """Advance every run by its score of epoch ``epoch``.

        Parameters
        ----------
        scores : torch.Tensor
            (n_runs,) the epoch's scores, lower is better (NaN never improves).
        epoch : int
            The epoch's index, recorded where a run stops or scores its lowest.
        """
        # A run that stopped has no more epochs: its lowest score stays.
        lower = (scores < self.lowest) & (self.stopped_at < 0)
        self.lowest = torch.where(lower, scores, self.lowest)
        self.lowest_epoch = torch.where(lower, epoch, self.lowest_epoch)
        improved = scores < self.best
        self.best = torch.where(improved, scores - self.tol, self.best)
        self.misses = torch.where(improved, 0, self.misses + 1)
        newly = (self.misses == self.patience) & (self.stopped_at < 0)
        self.stopped_at[newly] = epoch

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Return copies of the state tensors by name."""
        return {name: getattr(self, name).clone() for name in self._STATE}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Replace the state by copies of ``state`` (as :meth:`state_dict` returns it).

        Parameters
        ----------
        state : dict of str to torch.Tensor
            The state tensors by name.
        """
        for name, value in state.items():
            setattr(self, name, value.clone())


def scores_without_each_sample(
    weight: torch.Tensor, losses: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The epoch losses of every run without one sample, and of the run with all.

    Parameters
    ----------
    weight : torch.Tensor
        (n,) the samples' weights.
    losses : torch.Tensor
        (n,) each sample's loss at its visit in the epoch.

    Returns
    -------
    without : torch.Tensor
        (n,) entry k: the weighted mean loss without sample k.
    full : torch.Tensor
        The weighted mean loss of all samples (0-d).
    """
    weight = weight.double()
    contributions = weight * losses.double()
    total, total_weight = contributions.sum(), weight.sum()
    without = (total - contributions) / (total_weight - weight).clamp_min(1e-300)
    return without, total / total_weight


class EpochStopping(Callback):
    """Stop training when the monitored score has not improved in ``patience`` epochs.

    Parameters
    ----------
    monitor : str
        The history column the run is judged by ('train_loss', 'valid_score').
    patience : int
        Epochs without improvement before training stops.
    tol : float
        Improvement (absolute) that resets the count of misses.
    lower_is_better : bool
        Whether lower scores of ``monitor`` are better.
    runs_without_each_sample : bool
        Apply the rule also to every run without one sample, from the per-sample losses
        of the engine's per-sample steps (``monitor`` must be 'train_loss'): the run's own
        score is then the weighted mean of those losses, the same number.
    sink : callable
        Where the messages go (a no-op when the estimator is not verbose).

    Attributes
    ----------
    rule_ : StoppingRule
        The state: one run, or with ``runs_without_each_sample`` ``n + 1`` runs, entry k
        the run without sample k and the last entry the run itself.
    sample_losses_ : torch.Tensor or None
        (n,) each sample's loss at its last visit (with ``runs_without_each_sample``).
    failure_ : str or None
        Why the runs without one sample stopped being followed (a numerical error), or
        None.
    """

    def __init__(
        self,
        monitor: str,
        patience: int,
        tol: float,
        lower_is_better: bool,
        runs_without_each_sample: bool,
        sink: Callable[[str], object],
    ):
        self.monitor = monitor
        self.patience = patience
        self.tol = tol
        self.lower_is_better = lower_is_better
        self.runs_without_each_sample = runs_without_each_sample
        self.sink = sink

    @property
    def stopped_(self) -> bool:
        """Whether the run itself has stopped."""
        return bool(self.rule_.stopped_at[-1] >= 0)

    def on_train_begin(self, net, X=None, **kwargs):
        train = X.train  # the engine's Feed
        n_runs = len(train) + 1 if self.runs_without_each_sample else 1
        self.rule_ = StoppingRule(n_runs, self.patience, self.tol, train.y.device)
        losses = getattr(self, "sample_losses_", None)
        if not self.runs_without_each_sample:
            self.sample_losses_ = None
        elif losses is None or len(losses) != len(train):
            # A continued fit on as many samples keeps the losses of the last visits.
            self.sample_losses_ = torch.zeros_like(train.weight)
        self.failure_ = None

    def on_batch_end(self, net, batch=None, training=False, per_sample_step=None, **kwargs):
        if training and per_sample_step is not None and self.sample_losses_ is not None:
            self.sample_losses_[batch[1][2]] = per_sample_step.losses

    def on_epoch_end(self, net, dataset_train=None, **kwargs):
        epoch = len(net.history) - 1
        scores = None
        if self.runs_without_each_sample and self.failure_ is None:
            try:
                without, full = scores_without_each_sample(
                    dataset_train.weight, self.sample_losses_
                )
                scores = torch.cat([without, full.reshape(1)])
            except NUMERICAL_ERRORS as exc:
                if not is_numerical(exc):
                    raise
                self.failure_ = failure_reason(f"the stopping rule in epoch {epoch}", exc)
        if scores is None:  # the run alone (the runs without one sample, if any, given up)
            score = float(net.history[-1, self.monitor])
            scores = torch.full((len(self.rule_.best),), torch.nan, dtype=torch.float64)
            scores[-1] = score if self.lower_is_better else -score
        self.rule_.update(scores.to(self.rule_.best.device), epoch)
        if int(self.rule_.stopped_at[-1]) == epoch:
            self.sink(
                f"Stopping since {self.monitor} has not improved in the last "
                f"{self.patience} epochs."
            )
            net.stop_requested_ = True

    def state_dict(self) -> dict:
        """The rule's state and the per-sample losses (copies), for checkpoints."""
        losses = self.sample_losses_
        return {
            "rule": self.rule_.state_dict(),
            "sample_losses": None if losses is None else losses.clone(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Resume from ``state`` (as :meth:`state_dict` returns it).

        Parameters
        ----------
        state : dict
            The rule's state and the per-sample losses.
        """
        self.rule_.load_state_dict(state["rule"])
        if state["sample_losses"] is not None:
            self.sample_losses_ = state["sample_losses"].clone()


class BestEpochWeights(Callback):
    """Keep the weights of the run's best epoch, and end training with them.

    The best epoch is the one with the lowest score of the stopping rule
    (:class:`EpochStopping`, registered as ``'stopping'``): the lowest training loss, or
    the best validation score with ``early_stopping``. So a fit never ends worse than
    its best epoch, as scikit-learn's MLP with ``early_stopping`` and skorch's
    ``Checkpoint``. It comes after every other callback: they see the last epoch's
    weights when training ends (the leave-one-out recorder keeps them in its last
    checkpoint). After a divergence too, it keeps its best epoch among those that ran.

    Parameters
    ----------
    sink : callable
        Where the message goes (a no-op when the estimator is not verbose).

    Attributes
    ----------
    kept_epoch_ : int
        The epoch (counted over the whole history) whose weights are kept, -1 before any.
    restored_ : bool
        Whether training ended with them in place of the last epoch's.
    """

    def __init__(self, sink: Callable[[str], object]):
        self.sink = sink

    def on_train_begin(self, net, **kwargs):
        self.kept_epoch_ = -1
        self.restored_ = False
        self._weights = None

    def on_epoch_end(self, net, **kwargs):
        epoch = len(net.history) - 1
        if int(dict(net.callbacks_)["stopping"].rule_.lowest_epoch[-1]) == epoch:
            self.kept_epoch_ = epoch
            self._weights = {k: v.detach().clone() for k, v in net.module_.state_dict().items()}

    def on_train_end(self, net, **kwargs):
        self.restored_ = self._weights is not None and self.kept_epoch_ != len(net.history) - 1
        if self.restored_:
            net.module_.load_state_dict(self._weights)
            self.sink(f"Keeping the weights of epoch {self.kept_epoch_ + 1}, the best.")
        self._weights = None  # a pickle need not carry them

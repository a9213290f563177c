"""The engine's callbacks that are not about leave-one-out: validation score, schedules.

(The stopping rule is in ``_stopping.py``, the leave-one-out recorder and the replay's
resume in ``sklearn_iw/loo/``; skorch's own ``PrintLog`` is used as it is.)
"""

from __future__ import annotations

import torch
from skorch.callbacks import Callback, LRScheduler


class ValidScore(Callback):
    """Record the validation score of each epoch as ``valid_score`` in the history.

    The score is the criterion's: accuracy for classifiers, the coefficient of
    determination R^2 for regressors (as scikit-learn's MLPs score early stopping).
    """

    def on_epoch_begin(self, net, **kwargs):
        self.outputs_: list[torch.Tensor] = []
        self.targets_: list[torch.Tensor] = []

    def on_batch_end(self, net, batch=None, training=False, y_pred=None, **kwargs):
        if not training:
            self.outputs_.append(y_pred)
            self.targets_.append(batch[1][0])

    def on_epoch_end(self, net, dataset_valid=None, **kwargs):
        if dataset_valid is not None and self.outputs_:
            score = net.criterion_.score(torch.cat(self.outputs_), torch.cat(self.targets_))
            net.history.record("valid_score", score)


def _build_schedule(spec, n_epochs: int, optimizer, last_epoch: int = -1):
    """Adapter with the call signature skorch's ``LRScheduler`` expects of a policy.

    ``last_epoch`` is ignored: :class:`ContinuingLRScheduler` builds a scheduler once
    per fresh fit and continued fits keep it.
    """
    return spec.build(optimizer, n_epochs)


class ContinuingLRScheduler(LRScheduler):
    """skorch's ``LRScheduler`` that keeps its torch scheduler across continued fits.

    skorch rebuilds the scheduler at every ``on_train_begin``, which restarts SGDR cycles
    and forgets ``ReduceLROnPlateau``'s counters under ``partial_fit``/``warm_start``.
    """

    def on_train_begin(self, net, **kwargs):
        if self.lr_scheduler_ is None:
            super().on_train_begin(net, **kwargs)

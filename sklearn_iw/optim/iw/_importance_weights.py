"""Importance-weights learning (Hochreiter & Obermayer 2005): the spec and its step.

For a minibatch with per-sample losses ``E_i`` and gradients ``g_i``, the step is the
smallest update that lowers every sample's loss by a margin ``p_i`` (with slack):

    primal:  min_dw 1/2 ||dw||^2 + sum_i C_i xi_i   s.t.  <-g_i, dw> >= p_i - xi_i, xi_i >= 0
    dual:    min_a  1/2 a^T G a - p^T a              s.t.  0 <= a_i <= C_i,  G_ij = <g_i, g_j>
    step:    dw = -sum_i a_i g_i  (from the linear layers' inputs and output gradients that
             the Gram matrix was made of, else one weighted backward pass)

``G`` comes from :func:`per_sample_gram` (no per-sample gradients are materialised for
linear layers), ``a`` from :func:`solve_box_qp`, warm-started with the ``a`` each sample
had at its previous visit. Written by hand: no library computes this step.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Real

import torch
from sklearn.utils._param_validation import Interval, StrOptions

from ...utils._numerics import all_finite
from .._spec import POSITIVE, OptimizerSpec
from ._gram import SELECT_ACTIVE_AT_MOST, per_sample_gram
from ._protocol import PerSampleOptimizer, PerSampleStep
from ._qp import solve_box_qp

_MARGINS = ("loss", "constant")
# From this batch size on, the Gram matrix comes as rows on demand. On full batches the QP
# reads a quarter to a half of the rows (digits full-batch fits 3-4x faster); batches of
# 200 have most rows read, and computing them in pieces made fits 10-14% slower.
LAZY_GRAM_MIN_BATCH = 300
# The per-sample memory of ImportanceWeightsOptimizer.
_MEMORY = ("importance_weights", "ever_active")
# Halvings of one step's scale before it is taken as it is (2^-30: no step at all).
_MAX_HALVINGS = 30


class ImportanceWeightsOptimizer(PerSampleOptimizer):
    """Applies importance-weights steps and remembers every sample's weight.

    Unlike gradient optimizers it needs the per-sample losses of the batch, so the
    training engine calls :meth:`per_sample_step` instead of ``step`` (the protocol of
    :class:`~sklearn_iw.solvers.PerSampleOptimizer`).

    Parameters
    ----------
    params : iterable of torch.nn.Parameter
        The parameters to train.
    lr : float
        Factor applied to the QP step ``dw`` (the reference's learning rate).
    p : float
        Margin scale.
    C : float
        Upper bound of every importance weight, multiplied by the sample's weight.
    margin : {'loss', 'constant'}
        ``p_i = p * min(E_i, loss_cap)`` or ``p_i = p``.
    loss_cap : float or None
        Cap of the loss in loss-proportional margins (``None``: no cap).
    qp_tol : float
        Relative duality-gap tolerance of the QP solver.
    sufficient_decrease : float
        Armijo constant of the step's check (0 turns it off); see :class:`ImportanceWeights`.

    Attributes
    ----------
    importance_weights : torch.Tensor or None
        Last ``a_i`` of each sample (indexed by the engine's sample index).
    ever_active : torch.Tensor or None
        Whether ``a_i > 0`` at any step so far.
    param_groups[0]["step_scale"] : float
        The scale ``s`` of the next step (see :meth:`_take_step`).

    Examples
    --------
    The engine drives it with per-sample losses; by hand, on a logistic model:

    >>> import torch
    >>> from torch import nn
    >>> from sklearn_iw.solvers import ImportanceWeights
    >>> _ = torch.manual_seed(0)
    >>> model = nn.Linear(3, 1)
    >>> X, y = torch.randn(4, 3), torch.tensor([0.0, 1.0, 1.0, 0.0])
    >>> def per_sample_loss(output, target):
    ...     return nn.functional.binary_cross_entropy_with_logits(
    ...         output.squeeze(1), target, reduction="none"
    ...     )
    >>> optimizer = ImportanceWeights(p=0.1, C=1.0).build(model.parameters())
    >>> optimizer.reset_samples(4, device=torch.device("cpu"), dtype=torch.float32)
    >>> step = optimizer.per_sample_step(
    ...     model, per_sample_loss, X, y, weight=torch.ones(4), index=torch.arange(4)
    ... )
    >>> alpha = step.records["sample_alpha"]
    >>> alpha.shape, bool(((alpha >= 0) & (alpha <= 1)).all())
    (torch.Size([4]), True)
    >>> bool(torch.equal(optimizer.importance_weights, alpha))
    True
    """

    def __init__(self, params, lr, p, C, margin, loss_cap, qp_tol, sufficient_decrease):  # noqa: N803
        # The step scale lives in the parameter group: checkpoints (state_dict) carry it.
        super().__init__(params, {"lr": lr, "step_scale": 1.0})
        self.p = p
        self.C = C
        self.margin = margin
        self.loss_cap = loss_cap
        self.qp_tol = qp_tol
        self.sufficient_decrease = sufficient_decrease
        self.importance_weights = None
        self.ever_active = None

    def __getstate__(self) -> dict:
        """torch's optimizer state (defaults, state, parameter groups) plus the margin
        settings and the per-sample memory, so that an unpickled optimizer trains on."""
        own = ("p", "C", "margin", "loss_cap", "qp_tol", "sufficient_decrease", *_MEMORY)
        return {**super().__getstate__(), **{name: getattr(self, name) for name in own}}

    def reset_samples(self, n_samples: int, device: torch.device, dtype: torch.dtype) -> None:
        """Start the per-sample memory for ``n_samples`` training samples.

        Parameters
        ----------
        n_samples : int
            Number of training samples (the engine's sample indices run over them).
        device : torch.device
            Device of the memory tensors.
        dtype : torch.dtype
            Floating-point dtype of the importance weights and losses.
        """
        self.importance_weights = torch.zeros(n_samples, device=device, dtype=dtype)
        self.ever_active = torch.zeros(n_samples, device=device, dtype=torch.bool)

    def sample_memory(self) -> dict[str, torch.Tensor]:
        """Return the per-sample memory by name (tensors indexed by sample; empty before
        :meth:`reset_samples`)."""
        if self.importance_weights is None:
            return {}
        return {name: getattr(self, name) for name in _MEMORY}

    def load_sample_memory(self, memory: dict[str, torch.Tensor]) -> None:
        """Replace the per-sample memory by copies of ``memory`` (see :meth:`sample_memory`).

        Parameters
        ----------
        memory : dict of str to torch.Tensor
            Tensors indexed by sample, as :meth:`sample_memory` returns them.
        """
        for name in _MEMORY:
            setattr(self, name, memory[name].clone())

    @torch.no_grad()
    def per_sample_step(
        self,
        module: torch.nn.Module,
        per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        X: torch.Tensor,
        y: torch.Tensor,
        weight: torch.Tensor,
        index: torch.Tensor,
    ) -> PerSampleStep:
        """One importance-weights step on a minibatch.

        The parameters are those of :meth:`PerSampleOptimizer.per_sample_step`; the
        per-sample weights set the bounds ``C_i = C * weight_i``.

        Returns
        -------
        step : PerSampleStep
            ``losses``: the (B,) per-sample losses before the step (detached); all NaN
            when a loss or the Gram matrix is not finite (diverged weights): then no step
            is taken and the per-sample memory is left as it was. ``records``:
            ``{"sample_alpha": alpha}``, the (B,) importance weights of the step (zeros
            when no step was taken).
        """
        with torch.enable_grad():
            rows, losses = per_sample_gram(module, per_sample_loss, X, y, lazy=True)
        G = rows if y.shape[0] >= LAZY_GRAM_MIN_BATCH else rows.full()
        E = losses.detach()
        # |G_ij| <= sqrt(G_ii G_jj): the diagonal is finite exactly when G is.
        if not all_finite((G.diagonal(), E)):
            nothing = torch.zeros_like(E)
            return PerSampleStep(torch.full_like(E, math.nan), {"sample_alpha": nothing}, nothing)
        if self.margin == "loss":
            margins = self.p * (E if self.loss_cap is None else E.clamp(max=self.loss_cap))
        else:
            margins = torch.full_like(E, self.p)
        bounds = self.C * weight
        warm = self.importance_weights[index]
        # Finite (checked above) tensors of G's dtype: the solver's own checks are skipped.
        alpha = solve_box_qp(
            G, margins, bounds, warm, tol=self.qp_tol, method="auto", check_input=False
        ).alpha
        params = [p for group in self.param_groups for p in group["params"]]
        weighted = rows.weighted_gradients(alpha)
        if weighted is None:  # the generic path: one weighted backward pass
            with torch.enable_grad():
                grads = torch.autograd.grad(
                    (alpha * losses).sum(), params, allow_unused=True, materialize_grads=True
                )
        else:  # from the layers' factors; parameters without gradient get none
            grads = [weighted.get(p, torch.zeros_like(p)) for p in params]
        scale = self._take_step(module, per_sample_loss, X, y, E, alpha, params, grads)
        # torch's schedulers warn unless the wrapped step() ran; per_sample_step replaces it.
        self._opt_called = True
        self.importance_weights[index] = alpha
        self.ever_active[index] |= alpha > 0
        lr = self.param_groups[0]["lr"] * scale
        return PerSampleStep(E, {"sample_alpha": alpha}, alpha, G, bounds, lr, rows)

    def _take_step(self, module, per_sample_loss, X, y, E, alpha, params, grads) -> float:
        """Apply ``dw = -lr * s * sum_i a_i g_i`` and return the scale ``s`` kept.

        ``dw`` is a gradient step on the importance-weighted batch loss
        ``L_a = sum_i a_i E_i``, whose first-order decrease is
        ``lr * s * ||sum_i a_i g_i||^2``. Where ``L_a`` falls by less than
        ``sufficient_decrease`` times that (Armijo's test), the margins asked more than
        the model can deliver (a linear model on overlapping classes, a saturating
        network): ``s`` is halved and the test repeated. The next step starts from the
        ``s`` kept, or from twice it (at most 1) when no halving was needed. Inactive
        samples (``a_i = 0``) take no part, so the leave-one-out lemma still holds.
        """
        group = self.param_groups[0]
        lr, scale = group["lr"], group["step_scale"]
        torch._foreach_add_(params, grads, alpha=-lr * scale)
        if not self.sufficient_decrease:
            return scale
        active = torch.nonzero(alpha > 0).flatten()
        if not active.numel():
            return scale
        unit = lr * float(torch.stack(torch._foreach_norm(grads)).square().sum())
        inputs = tuple(X) if isinstance(X, tuple | list) else (X,)
        if active.numel() <= SELECT_ACTIVE_AT_MOST * len(alpha):
            # The test weighs the losses by a: where most samples are inactive (two
            # thirds of a batch of 200 on large tables), the others' forward pass alone.
            inputs = tuple(x.index_select(0, active) for x in inputs)
            y, E, alpha = y.index_select(0, active), E.index_select(0, active), alpha[active]
        halved = False
        for _ in range(_MAX_HALVINGS):
            decrease = float(alpha.dot(E - per_sample_loss(module(*inputs), y).detach()))
            if decrease >= self.sufficient_decrease * scale * unit:
                break
            torch._foreach_add_(params, grads, alpha=0.5 * lr * scale)
            scale *= 0.5
            halved = True
        group["step_scale"] = scale if halved else min(1.0, 2.0 * scale)
        return scale


class ImportanceWeights(OptimizerSpec):
    """Importance-weights learning: each step solves a small QP over per-sample gradients.

    Each minibatch: per-sample losses ``E_i`` -> margins ``p_i`` -> Gram ``G`` of the
    per-sample gradients -> importance weights ``a`` from :func:`solve_box_qp`
    (warm-started with each sample's previous ``a``) -> ``dw = -lr * sum_i a_i g_i``. The
    estimator's ``update_clip`` clips ``dw`` elementwise (the reference's dW cut); its
    ``alpha`` is applied as decoupled weight decay ``W <- W / (1 + lr * alpha)`` on weight
    matrices after the step, outside the QP. Sample and class weights scale the bounds:
    ``C_i = C * weight_i``.

    Parameters
    ----------
    p : float, default=1.0
        Margin scale: how much each step should lower each sample's loss (with the
        default 'loss' margins, ``p=1`` asks every step to remove each sample's loss in the
        linear approximation, as the passive-aggressive algorithms do). Smaller margins
        take more epochs: on digits (MLP hidden (100,), defaults) ``p=0.1`` needed 158
        epochs and 6.2 s where ``p=1`` needed 29 epochs and 0.6 s, with the same held-out
        error within 0.3 point (benchmarks/README.md, time to accuracy). They keep fewer
        samples active, for a tighter ``loo_bound_`` and cheaper ``leave_one_out``
        replays: use ``p=0.1`` or less for selection by the bound or the replay. The
        estimate ``loo_estimate_`` is as close at either (mean error 0.008 at ``p=0.1``
        and 0.007 at ``p=1`` on 12 small fits, docs/importance_weights.md).
    C : float, default=1.0
        Upper bound of each importance weight (before the sample weight).
    margin : {'loss', 'constant'}, default='loss'
        'loss': ``p_i = p * min(E_i, loss_cap)`` (the reference jLSTM's choice);
        'constant': ``p_i = p``.
    loss_cap : float or None, default=4.0
        Cap of the loss in loss-proportional margins; ``None``: no cap. The cap suits
        classification losses (a misclassified sample's cross-entropy is a few units).
        Squared errors grow with the square of the targets' scale, and a cap then asks
        each step for a vanishing share of them: on unscaled targets the regressors'
        fits stalled, so they use ``None``. On scikit-learn's diabetes (442 x 10,
        targets of standard deviation 77, features standardised, 3 splits)
        ``IWLinearRegression`` reached a held-out R^2 of -4.45 with the cap of 4 in 200
        epochs, 0.414 without it in 86, ``Ridge()`` 0.415.
    lr : float, default=1.0
        Factor applied to the QP step.
    qp_tol : float, default=1e-8
        Relative duality-gap tolerance of the QP solver (floored by the solver in float32).
    sufficient_decrease : float, default=0.1
        Armijo constant of the check that keeps a step from running away. The step
        ``dw = -lr * sum_i a_i g_i`` descends the importance-weighted batch loss
        ``sum_i a_i E_i``; where that loss falls by less than ``sufficient_decrease``
        times its first-order decrease, the step is halved until it does, and later
        steps start from the scale kept (doubled after each step that needed no
        halving, up to 1). On overlapping classes the margins ask a linear model for
        more than it can deliver: on 5000 generated rows with 10% label noise the
        logistic model without the check (``sufficient_decrease=0``) ended below the
        majority class (0.585 held-out accuracy against scikit-learn's 0.686), with it
        at 0.686. Where steps deliver what they ask (digits MLP) it never acts, at the
        cost of one forward pass of the batch per step. 0 turns the check off.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from sklearn_iw import IWLogisticRegression
    >>> from sklearn_iw.solvers import ImportanceWeights
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = IWLogisticRegression(
    ...     optimizer=ImportanceWeights(p=0.02, C=1.0), max_iter=20, random_state=0
    ... ).fit(X, y)
    >>> clf.importance_weights_.shape
    (150,)
    >>> bool(clf.importance_weights_.min() >= 0 and clf.importance_weights_.max() <= 1.0)
    True
    >>> 0.0 <= clf.loo_bound_ <= 1.0
    True

    ``p`` and ``C`` are tunable by grid search as ``optimizer__p`` and ``optimizer__C``.
    """

    name = "importance_weights"
    keyed_batches = True
    per_sample = True
    records_activity = True
    decoupled_weight_decay = True
    computed_by = "hand-written"
    optimizer_class = ImportanceWeightsOptimizer
    _parameter_constraints = {
        "p": [POSITIVE],
        "C": [POSITIVE],
        "margin": [StrOptions(set(_MARGINS))],
        "loss_cap": [POSITIVE, None],
        "lr": [POSITIVE],
        "qp_tol": [POSITIVE],
        "sufficient_decrease": [Interval(Real, 0, 1, closed="left")],
    }

    def __init__(
        self,
        p: float = 1.0,
        C: float = 1.0,  # noqa: N803
        margin: str = "loss",
        loss_cap: float | None = 4.0,
        lr: float = 1.0,
        qp_tol: float = 1e-8,
        sufficient_decrease: float = 0.1,
    ):
        self.p = p
        self.C = C
        self.margin = margin
        self.loss_cap = loss_cap
        self.lr = lr
        self.qp_tol = qp_tol
        self.sufficient_decrease = sufficient_decrease

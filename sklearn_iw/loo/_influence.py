"""Approximate leave-one-out margins from one importance-weights run (``loo_estimate_``).

Removing a training sample that was never active (``a_k = 0`` at every step) changes no
iterate, so its leave-one-out (LOO) prediction is the final model's. For the active
samples this module estimates how much lower the margin ``m_k`` of sample ``k`` would be in
the run without ``k``, from two pieces recorded by the run itself:

- **span self-influence** (per step, :func:`span_self_influence`): at a step where ``k``
  is active, dropping ``k`` from the QP lets the other free samples take over the part of
  ``g_k`` that lies in the span of their gradients; what is left raises ``E_k`` by
  ``lr a_k S_k^2``, with ``S_k^2 = 1 / (G_FF^-1)_kk`` for a free ``k`` (``0 < a_k < C_k``)
  and ``S_k^2 = G_kk - G_kF G_FF^-1 G_Fk`` for ``k`` at its bound. Converted to a margin
  change with ``dm/dE`` and summed over the steps (:class:`InfluenceAccumulator`).
- **infinitesimal jackknife for early-stopped descent along the run** (once, at the end,
  :func:`loo_margins`), below.

The estimated LOO margin is ``m_k - min(span_k, jackknife_k)``: the span term misses how
the later steps pull a removed sample's effect back, the jackknife how the other samples of
its steps take its pull over.

Each step moves the weights by ``-lr sum_i a_i g_i(t)``. Sample ``k``'s own part of them,
summed over the run, is its **pull vector** ``v_k = sum_t lr a_k g_k(t)``, each gradient at
the weights of its step (:class:`InfluenceAccumulator`). The run is read as gradient
descent on ``sum_i E_i`` stopped after unit time, which acts as a unit ridge, in which
sample ``i`` bent the outputs with the total curvature ``Q_i = sum_t lr a_i e^T L e / |e|^2``
(``e = dE/df``, ``L = d2E/df2``). With ``d_i`` the gradient of the output along ``e_i`` at
the final weights and ``H = I + sum_i Q_i d_i d_i^T``, removing ``k`` lowers its output
along its loss gradient by ``d_k^T H_-k^-1 v_k = d_k^T H^-1 v_k / (1 - Q_k h_k)``,
``h_k = d_k^T H^-1 d_k`` (Sherman-Morrison for the ``-k``). Both come from sample-space
Gram matrices of the active samples (the ``d_i`` with each other and with the ``v_i``): no
parameter-space matrix. Summing each step's pull keeps the jackknife from vanishing with
the final gradients of a model that fits its training set (a jackknife on the final
gradients gave 0.000 on a memorising network whose exact leave-one-out error was 0.139).

Where the pull vectors would hold more than ``MAX_PULL_ENTRIES`` numbers (samples times
parameters), or the layers give no per-sample gradients, a sample keeps only the size of
its pull, ``P_k = sum_t lr a_k |e_k(t)|``, and ``v_k`` is taken along ``d_k``: each segment
of the run (epochs 0, 1, 2-3, 4-7, ...) counts with the alignment of ``d_k`` at the
segment's start with the final one (:func:`_aligned_pull`).

Margins: binary problems (one output ``f``, targets 0/1) use ``m = s f`` with ``s = +-1``;
multiclass ones ``m = f_y - max_{j != y} f_j``; regression ``m = -||f - y||``, so that the
lowered margin of a left-out sample is its residual grown along itself (the output is the
prediction: never-active samples keep theirs, exactly). ``dm/dE`` is
``<dm/df, dE/df> / ||dE/df||^2``: the margin change per unit loss change when the outputs
move along the loss gradient (for binary problems ``1 / l'(m)``). Multilabel targets get
no estimate.

Pure torch, no estimator knowledge: functions take a torch module and a per-sample loss
callable ``per_sample_loss(output, target) -> (n,)`` like
:func:`~sklearn_iw.solvers.per_sample_gram`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import scipy.linalg
import torch
from torch import nn

from ..optim.iw._gram import GramRows, per_sample_gram, per_sample_jacobian

__all__ = [
    "MAX_PULL_ENTRIES",
    "InfluenceAccumulator",
    "LOOMargins",
    "loo_margins",
    "loss_gradient_scale",
    "margins",
    "span_self_influence",
]

# Jitter of the free-set factorisation, relative to the largest diagonal entry.
_JITTER = 1e-10
_POTRF, _TRTRI, _TRTRS = (
    scipy.linalg.lapack.dpotrf,
    scipy.linalg.lapack.dtrtri,
    scipy.linalg.lapack.dtrtrs,
)

# The most numbers the pull vectors may hold (samples times trainable parameters): 16 MiB
# in float32. Each epoch adds to every active sample's vector: at 6.5 million numbers (the
# digits MLP(64), 1347 samples) that doubled the fit's time. Beyond, each sample keeps only
# the size of its pull.
MAX_PULL_ENTRIES = 1 << 22


def span_self_influence(
    G: torch.Tensor | GramRows, alpha: torch.Tensor, C: torch.Tensor | float
) -> torch.Tensor:
    """Squared distance of each active gradient from the span of the free ones.

    Parameters
    ----------
    G : torch.Tensor or GramRows
        ``(B, B)`` Gram matrix of the step's per-sample gradients. Only the rows of the
        active samples (``index_select``) and the diagonal are read.
    alpha : torch.Tensor
        ``(B,)`` importance weights the QP returned (exact zeros and exact bounds).
    C : torch.Tensor or float
        Upper bounds ``C_i``.

    Returns
    -------
    torch.Tensor
        ``(B,)`` ``S_k^2``: ``1 / (G_FF^-1)_kk`` for a free ``k`` (``0 < a_k < C_k``),
        ``G_kk - G_kF G_FF^-1 G_Fk`` for ``k`` at its bound, ``0`` for inactive samples,
        in the dtype of ``alpha``.
    """
    # Float64 numpy on the host: a few small factorisations per step, where as many
    # tensor operations cost several times the arithmetic.
    B = alpha.shape[0]
    a = alpha.detach().cpu().numpy().astype(np.float64)
    bounds = np.broadcast_to(torch.as_tensor(C).detach().cpu().numpy(), (B,))
    S2 = np.zeros(B)
    active = np.flatnonzero(a > 0)
    if active.size:
        diag = G.diagonal().detach().cpu().numpy().astype(np.float64)
        at_bound = a[active] >= bounds[active]
        free, bound = active[~at_bound], active[at_bound]
        S2[bound] = diag[bound]
        if free.size:
            # Rows of the free samples only (G is symmetric): a full batch of a model with
            # few parameters keeps most samples active but at most as many free as the
            # rank, and rows cost B entries each.
            rows = G.index_select(0, torch.from_numpy(free).to(alpha.device))
            G_AF = rows.detach().cpu().numpy().astype(np.float64).take(active, axis=1).T
            G_FF = G_AF[~at_bound]
            jitter = _JITTER * max(float(diag[free].max()), 1e-300)
            while True:  # semi-definite and unlucky: raise the jitter
                L, info = _POTRF(G_FF + jitter * np.eye(free.size), lower=1, clean=1)
                if info == 0:
                    break
                jitter *= 100.0
            # (G_FF^-1)_kk = ||L^-1 e_k||^2.
            L_inv, _ = _TRTRI(L, lower=1)
            S2[free] = 1.0 / np.square(L_inv).sum(axis=0)
            if bound.size:
                V, _ = _TRTRS(L, G_AF[at_bound].T, lower=1)
                S2[bound] -= np.square(V).sum(axis=0)
    return torch.from_numpy(np.maximum(S2, 0.0)).to(alpha)


def _output_gradient(
    output: torch.Tensor,
    target: torch.Tensor,
    per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``dE/df`` per sample: the gradient of each sample's loss with respect to its
    outputs, ``(n, K)``."""
    with torch.enable_grad():
        out = output.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(per_sample_loss(out, target).sum(), out)
    return grad


def _residual_margin(
    output: torch.Tensor, target: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """A regression's margin ``m = -||f - y||`` and ``dm/df`` (``(n, K)``, 0 where the fit
    is exact): leaving a sample out moves its output away from its target, so the
    classifiers' "margin lowered by the influence" reads as "residual grown by it"."""
    residual = output - target
    norm = residual.square().sum(dim=1, keepdim=True).sqrt()
    slope = torch.where(norm > 0, -residual / torch.where(norm > 0, norm, 1.0), 0.0)
    return -norm[:, 0], slope


def margins(
    output: torch.Tensor,
    target: torch.Tensor,
    per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    regression: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample margins and their derivative with respect to the loss.

    Parameters
    ----------
    output : torch.Tensor
        ``(n, K)`` network outputs: ``K = 1`` for binary problems (targets 0/1), one per
        class for multiclass ones (targets are class indices), one per target column
        for regression.
    target : torch.Tensor
        ``(n,)`` class indices, or ``(n, K)`` values with ``regression=True``. A 2-D
        classification target (multilabel) has no margin.
    per_sample_loss : callable
        ``per_sample_loss(output, target)`` returns the ``(n,)`` losses.
    regression : bool, default=False
        Whether ``target`` holds values: the margin is then minus the residual's norm.

    Returns
    -------
    m : torch.Tensor
        ``(n,)`` margins: ``s f`` (binary, ``s = 2 y - 1``), ``f_y - max_{j != y} f_j``
        (multiclass), negative meaning misclassified, or ``-||f - y||`` (regression).
        NaN for multilabel targets.
    dm_dE : torch.Tensor
        ``(n,)`` ``<dm/df, dE/df> / ||dE/df||^2`` (``1 / l'(m)`` for binary problems),
        ``0`` where the loss has no gradient. NaN for multilabel targets.
    """
    output = output.detach()
    if target.ndim > 1 and not regression:
        nan = output.new_full((output.shape[0],), float("nan"))
        return nan, nan.clone()
    grad = _output_gradient(output, target, per_sample_loss)
    if regression:
        m, slope = _residual_margin(output, target)
        norm2 = grad.square().sum(dim=1)
        along = (slope * grad).sum(dim=1)
        return m, torch.where(norm2 > 0, along / torch.where(norm2 > 0, norm2, 1.0), 0.0)
    if output.shape[1] == 1:
        sign = 2.0 * target.to(output.dtype) - 1.0
        m = sign * output[:, 0]
        slope = sign * grad[:, 0]  # l'(m)
        dm_dE = torch.where(slope != 0, 1.0 / torch.where(slope != 0, slope, 1.0), 0.0)
        return m, dm_dE
    true = output.gather(1, target[:, None])[:, 0]
    others = output.scatter(1, target[:, None], float("-inf"))
    rival_value, rival = others.max(dim=1)
    m = true - rival_value
    along = grad.gather(1, target[:, None])[:, 0] - grad.gather(1, rival[:, None])[:, 0]
    norm2 = grad.square().sum(dim=1)
    dm_dE = torch.where(norm2 > 0, along / torch.where(norm2 > 0, norm2, 1.0), 0.0)
    return m, dm_dE


class InfluenceAccumulator:
    """Per-sample sums over the importance-weights steps of one run.

    Parameters
    ----------
    n_samples : int
        Number of training samples (indexed as the engine indexes them).
    dtype : torch.dtype
        Floating-point dtype of the sums.
    device : torch.device
        Device of the sums.

    Attributes
    ----------
    pull_vectors : torch.Tensor or None
        ``(n, n_trainable)`` ``v_k = sum_t lr a_k g_k(t)``: each sample's part of the
        run's updates, each gradient at the weights of its step. None before the first
        step, and for good where they would hold more than :data:`MAX_PULL_ENTRIES`
        numbers or a step gave no per-sample gradients (``has_pull_vectors`` is then
        False).
    has_pull_vectors : bool
        Whether ``pull_vectors`` are kept.
    span : torch.Tensor
        ``(n,)`` ``sum_t lr a_k S_k^2 |dm/dE|``: the margin lost by removing ``k``, summed
        over the steps where ``k`` was active, each at its own step
        (:func:`span_self_influence`).
    output_pull : torch.Tensor
        ``(n,)`` ``P_k = sum_t lr a_k |e_k(t)|``: the pull in output-gradient units, each
        step at its own weights (``e = dE/df``).
    curvature_pull : torch.Tensor
        ``(n,)`` ``Q_k = sum_t lr a_k e^T L e / |e|^2`` (``L = d2E/df2``): the curvature of
        the loss along its gradient, summed as the pull.
    ever_active : torch.Tensor
        ``(n,)`` whether ``a_k > 0`` at any step.
    segments : list of (list of torch.Tensor, torch.Tensor)
        The trainable parameters at the start of each segment of the run (epochs 0, 1,
        2, 4, 8, ...: :meth:`start_segment`) and ``output_pull`` then; they serve the
        estimate without pull vectors.
    """

    def __init__(self, n_samples: int, dtype: torch.dtype, device: torch.device):
        self.pull_vectors = None
        self.has_pull_vectors = True
        self.span = torch.zeros(n_samples, dtype=dtype, device=device)
        self.output_pull = torch.zeros(n_samples, dtype=dtype, device=device)
        self.curvature_pull = torch.zeros(n_samples, dtype=dtype, device=device)
        self.ever_active = torch.zeros(n_samples, dtype=torch.bool, device=device)
        self.segments = []

    def start_segment(self, parameters) -> None:
        """Begin a segment of the run at the current ``parameters`` (an iterable of the
        module's trainable tensors): without pull vectors, the pull of each segment is
        turned to the final gradient directions at the end (:func:`loo_margins`)."""
        if self.has_pull_vectors and self.pull_vectors is not None:
            return
        snapshot = [p.detach().clone() for p in parameters]
        self.segments.append((snapshot, self.output_pull.clone()))

    def add_pulls(
        self, index: torch.Tensor, alpha: torch.Tensor, lr: float, gradients: GramRows | None
    ) -> None:
        """Add one step's ``lr a_k g_k`` to the pull vectors of its active samples.

        Parameters
        ----------
        index : torch.Tensor
            ``(B,)`` sample indices of the batch.
        alpha : torch.Tensor
            ``(B,)`` the step's importance weights.
        lr : float
            Factor of the step: ``update = -lr sum_i a_i g_i``.
        gradients : GramRows or None
            The step's per-sample gradients
            (:meth:`~sklearn_iw.solvers.GramRows.add_weighted_gradients`); None, or a Gram
            matrix without them, ends the pull vectors.
        """
        if not self.has_pull_vectors:
            return
        width = gradients.rank_bound if isinstance(gradients, GramRows) else None
        n = len(self.output_pull)
        if width is None or n * width > MAX_PULL_ENTRIES:
            self.has_pull_vectors, self.pull_vectors = False, None
            return
        if self.pull_vectors is None:
            self.pull_vectors = torch.zeros(n, width, dtype=gradients.dtype, device=index.device)
            self.segments.clear()  # the vectors replace them
        active = torch.nonzero(alpha > 0).flatten()
        if not active.numel():
            return
        weights = (lr * alpha.index_select(0, active)).to(gradients.dtype)
        gradients.add_weighted_gradients(
            self.pull_vectors, index.index_select(0, active), active, weights
        )

    def update(
        self,
        index: torch.Tensor,
        alpha: torch.Tensor,
        S2: torch.Tensor,
        lr: float | torch.Tensor,
        dm_dE: torch.Tensor,
        gradient_norm: torch.Tensor,
        curvature: torch.Tensor,
    ) -> None:
        """Add one step, or several steps' samples side by side.

        Parameters
        ----------
        index : torch.Tensor
            ``(B,)`` sample indices of the batch.
        alpha : torch.Tensor
            ``(B,)`` the step's importance weights.
        S2 : torch.Tensor
            ``(B,)`` :func:`span_self_influence` of the step.
        lr : float or torch.Tensor
            Factor applied to the step, or ``(B,)`` the factor of each sample's step.
        dm_dE : torch.Tensor
            ``(B,)`` :func:`margins`' second output, at the weights before the step.
        gradient_norm, curvature : torch.Tensor
            ``(B,)`` :func:`loss_gradient_scale` at the weights before the step.
        """
        weight = alpha.to(self.span.dtype) * torch.as_tensor(lr, dtype=self.span.dtype)
        slope = dm_dE.abs().to(self.span.dtype)
        self.span.index_add_(0, index, weight * S2.to(self.span.dtype) * slope)
        self.output_pull.index_add_(0, index, weight * gradient_norm.to(weight.dtype))
        self.curvature_pull.index_add_(0, index, weight * curvature.to(weight.dtype))
        self.ever_active[index] |= alpha > 0


class LOOMargins(NamedTuple):
    """Result of :func:`loo_margins`.

    Attributes
    ----------
    margins : torch.Tensor
        ``(n,)`` estimated LOO margins (the final margin for never-active samples); a
        sample counts as a LOO error where it is negative. All NaN when ``reason`` is set.
    final : torch.Tensor
        ``(n,)`` margins of the final model.
    jackknife : torch.Tensor
        ``(n,)`` the jackknife's estimate of the margin lost by removing each active
        sample (0 for the others), before the minimum with the span self-influence.
    reason : str or None
        Why there is no estimate, or None.
    outputs : torch.Tensor or None
        ``(n, K)`` estimated LOO outputs: the final ones with the true class's output
        (binary: the signed output) lowered by the margin's estimated drop (regression:
        the residual grown by it); None when ``reason`` is set.
    """

    margins: torch.Tensor
    final: torch.Tensor
    jackknife: torch.Tensor
    reason: str | None
    outputs: torch.Tensor | None = None


def _curvature_along_gradient(
    output: torch.Tensor,
    target: torch.Tensor,
    per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> torch.Tensor:
    """``e^T L e / ||e||^4`` per sample, with ``e = dE/df`` and ``L = d2E/df2``: the
    Gauss-Newton curvature of the loss along its own gradient, in units of ``g g^T``
    (``l''(m) / l'(m)^2`` for one output). ``0`` where the loss has no gradient."""
    with torch.enable_grad():
        out = output.detach().clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(per_sample_loss(out, target).sum(), out, create_graph=True)
        norm2 = grad.detach().square().sum(dim=1)
        if not grad.requires_grad:  # piecewise-linear losses: no second derivative
            return torch.zeros_like(norm2)
        direction = grad.detach()
        # Hessian-vector product along the (fixed) gradient direction, per sample.
        (hv,) = torch.autograd.grad((grad * direction).sum(), out, allow_unused=True)
    if hv is None:
        return torch.zeros_like(norm2)
    quad = (hv * direction).sum(dim=1)
    safe = torch.where(norm2 > 0, norm2, 1.0)
    return torch.where(norm2 > 0, quad.clamp_min(0.0) / safe.square(), 0.0)


_MULTILABEL = "multilabel targets have no margin"
_NO_CURVATURE = (
    "the loss has no curvature at the active samples (a piecewise-linear loss such as "
    "'hinge'): the jackknife is undefined"
)


def _outputs(module: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """The module's outputs at ``X``, in chunks of 8192 samples."""
    return torch.cat([module(chunk) for chunk in X.split(8192)])


def loss_gradient_scale(
    output: torch.Tensor,
    target: torch.Tensor,
    per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, ``|e|`` and ``e^T L e / |e|^2`` with ``e = dE/df`` and ``L = d2E/df2``:
    the loss gradient's size and the loss curvature along it (``|l'(m)|`` and ``l''(m)``
    for one output), in the dtype of ``output``.

    Parameters
    ----------
    output : torch.Tensor
        ``(n, K)`` network outputs.
    target : torch.Tensor
        ``(n,)`` targets.
    per_sample_loss : callable
        ``per_sample_loss(output, target)`` returns the ``(n,)`` losses.

    Returns
    -------
    gradient_norm, curvature : torch.Tensor
        ``(n,)`` each; ``0`` where the loss has no gradient.
    """
    norm2 = _output_gradient(output, target, per_sample_loss).square().sum(dim=1)
    curvature = _curvature_along_gradient(output, target, per_sample_loss) * norm2
    return norm2.sqrt(), curvature


def _gradient_direction(
    output: torch.Tensor,
    target: torch.Tensor,
    per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    regression: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample, the unit loss gradient ``e / |e|`` in output space (where ``e = 0``,
    the direction that lowers the margin) and the margin's change per unit output move
    along it, ``|<dm/df, e / |e|>|``."""
    grad = _output_gradient(output, target, per_sample_loss)
    norm = grad.square().sum(dim=1, keepdim=True).sqrt()
    if regression:
        _, slope = _residual_margin(output, target)
        direction = torch.where(norm > 0, grad / torch.where(norm > 0, norm, 1.0), -slope)
        return direction, (slope * direction).sum(dim=1).abs()
    if output.shape[1] == 1:
        lowers_margin = (1.0 - 2.0 * target.to(output.dtype))[:, None]
        direction = torch.where(norm > 0, grad / torch.where(norm > 0, norm, 1.0), lowers_margin)
        return direction, torch.ones_like(norm[:, 0])
    rival = output.scatter(1, target[:, None], float("-inf")).argmax(dim=1)
    lowers_margin = torch.zeros_like(output)
    lowers_margin.scatter_(1, target[:, None], -(0.5**0.5))
    lowers_margin.scatter_(1, rival[:, None], 0.5**0.5)
    direction = torch.where(norm > 0, grad / torch.where(norm > 0, norm, 1.0), lowers_margin)
    along = direction.gather(1, target[:, None])[:, 0] - direction.gather(1, rival[:, None])[:, 0]
    return direction, along.abs()


@torch.no_grad()
def estimate_obstacle(
    module: nn.Module,
    per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    target: torch.Tensor,
    accumulator: InfluenceAccumulator,
    regression: bool = False,
) -> str | None:
    """Why :func:`loo_margins` would give no estimate, or ``None``.

    The checks alone (one forward pass over the active samples), so that the estimate
    itself, whose Gram matrix and factorisation of the active samples can cost more than
    the training, can wait until it is asked for.

    Parameters
    ----------
    module, per_sample_loss, X, target, accumulator, regression
        As for :func:`loo_margins`.

    Returns
    -------
    str or None
        The reason :func:`loo_margins` would return.
    """
    if target.ndim > 1 and not regression:
        return _MULTILABEL
    active = torch.nonzero(accumulator.ever_active).flatten()
    if not active.numel():
        return None
    curved = accumulator.curvature_pull.index_select(0, active) > 0
    return None if bool(curved.any()) else _NO_CURVATURE


@torch.no_grad()
def loo_margins(
    module: nn.Module,
    per_sample_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    X: torch.Tensor,
    target: torch.Tensor,
    accumulator: InfluenceAccumulator,
    ridge: float = 1.0,
    regression: bool = False,
) -> LOOMargins:
    """Estimated leave-one-out margins at the end of training.

    The estimated LOO margin of an active sample ``k`` is ``m_k - min(c_k, s_k)`` with
    ``c_k`` the accumulated span self-influence (``accumulator.span``) and ``s_k`` the
    jackknife of early-stopped descent along the run: with ``Q`` the curvature pulls
    (``accumulator.curvature_pull``), ``d_i`` the gradient of the output along
    ``e_i = dE/df`` at the final weights and ``H = ridge I + sum_i Q_i d_i d_i^T``,

        s_k = |<dm/df, e_k / |e_k|>| d_k^T H^-1 v_k / (1 - Q_k h_k),   h_k = d_k^T H^-1 d_k,

    with ``v_k`` the pull vector (``accumulator.pull_vectors``; without them
    ``v_k = P_k d_k``, ``P_k`` the aligned output pull). Both quadratic forms come from
    sample-space matrices of the active samples (Woodbury): ``A = [d_i . d_j]`` and
    ``B = [d_i . v_j]``, ``W = diag(Q)``,
    ``h = diag(A - A W^1/2 (ridge I + W^1/2 A W^1/2)^-1 W^1/2 A) / ridge`` and the same
    with ``B`` on the right for ``d_k^T H^-1 v_k``. Never-active samples keep their final
    margin (exact).

    Parameters
    ----------
    module : torch.nn.Module
        The trained model.
    per_sample_loss : callable
        ``per_sample_loss(output, target)`` returns the ``(n,)`` losses.
    X, target : torch.Tensor
        All training samples, indexed as in ``accumulator``.
    accumulator : InfluenceAccumulator
        The sums over the run's steps.
    ridge : float, default=1.0
        Ridge of the jackknife's Hessian in units of the pulls (1: the ridge that
        early-stopped descent acts as).
    regression : bool, default=False
        Whether ``target`` holds values (``(n, K)``): the margin is ``-||f - y||``
        (:func:`margins`) and the estimated LOO outputs move away from the targets.

    Returns
    -------
    LOOMargins
        All NaN, with a reason, for multilabel targets and where the loss had no
        curvature at any active sample (piecewise-linear losses such as 'hinge'): the
        jackknife's Hessian is then the ridge alone, untested against exact
        leave-one-out.
    """
    output = _outputs(module, X)
    m, _ = margins(output, target, per_sample_loss, regression)
    nan = torch.full_like(m, float("nan"))
    if target.ndim > 1 and not regression:
        return LOOMargins(nan, m, nan.clone(), _MULTILABEL)
    work = torch.float64
    active = torch.nonzero(accumulator.ever_active).flatten()
    shift = torch.zeros(m.shape[0], dtype=work, device=m.device)
    if active.numel():
        Q = accumulator.curvature_pull.index_select(0, active).to(work).clamp_min(0.0)
        if not bool((Q > 0).any()):
            return LOOMargins(nan, m, nan.clone(), _NO_CURVATURE)
        direction, along = _gradient_direction(
            output.index_select(0, active),
            target.index_select(0, active),
            per_sample_loss,
            regression,
        )
        X_active = X.index_select(0, active)
        pulls = accumulator.pull_vectors
        if pulls is not None:
            final = _output_jacobian(module, X_active, direction)
            D = (final @ final.T).to(work)
            pull_gram = (final @ pulls.index_select(0, active).to(final.dtype).T).to(work)
        else:
            with torch.enable_grad():
                D, _ = per_sample_gram(module, _output_along, X_active, direction.detach())
            D = D.detach().to(work)
        root = Q.sqrt()
        inner = root[:, None] * D * root + ridge * torch.eye(len(D), dtype=work, device=D.device)
        L = torch.linalg.cholesky(inner)
        V = torch.linalg.solve_triangular(L, root[:, None] * D, upper=False)
        h = (D.diagonal() - V.square().sum(dim=0)).clamp_min(0.0) / ridge
        if pulls is not None:  # d_k^T H^-1 v_k
            U = torch.linalg.solve_triangular(L, root[:, None] * pull_gram, upper=False)
            pulled = (pull_gram.diagonal() - (V * U).sum(dim=0)) / ridge
        else:
            pulled = _aligned_pull(module, X_active, direction, active, accumulator) * h
        denom = (1.0 - Q * h).clamp_min(torch.finfo(work).eps)
        # A pull against the final gradient (a turned network) would raise the margin of
        # its own sample when left out: counted as no drop, as ridge regression's own
        # leave-one-out never helps a sample.
        shift[active] = along.to(work) * pulled.clamp_min(0.0) / denom
    drop = torch.minimum(accumulator.span.to(m.dtype), shift.to(m.dtype))
    drop = torch.where(accumulator.ever_active, drop, 0.0)
    lowered = _lower_margins(output, target, drop, regression)
    return LOOMargins(m - drop, m, shift.to(m.dtype), None, lowered)


def _lower_margins(
    output: torch.Tensor, target: torch.Tensor, drop: torch.Tensor, regression: bool = False
) -> torch.Tensor:
    """``output`` with each sample's margin lowered by ``drop`` through its true class's
    output (binary: the output moves towards the other class; regression: away from the
    target, along the residual)."""
    lowered = output.detach().clone()
    if regression:
        _, slope = _residual_margin(output, target)
        lowered -= drop[:, None] * slope
    elif output.shape[1] == 1:
        sign = 2.0 * target.to(output.dtype) - 1.0
        lowered[:, 0] -= sign * drop
    else:
        lowered.scatter_add_(1, target[:, None], -drop[:, None])
    return lowered


# Per-sample gradient entries held at once while aligning the pulls (32 MB in float64).
_ALIGN_ENTRIES = 1 << 22


@torch.no_grad()
def _aligned_pull(
    module: nn.Module,
    X: torch.Tensor,
    direction: torch.Tensor,
    active: torch.Tensor,
    accumulator: InfluenceAccumulator,
) -> torch.Tensor:
    """Float64 ``P_k`` of the active samples, each segment's pull counted along the final
    gradient: ``sum_s (P_k(end of s) - P_k(start of s)) <d_k(w_s), d_k> / |d_k|^2``, with
    ``d_k`` the gradient of the output along ``direction`` (``d_k(w_s)`` at the segment's
    starting weights). A network's gradient directions turn while it trains, and a pull
    along an earlier direction moves the final output less (a linear model's do not turn:
    the ratio is 1)."""
    work = torch.float64
    pulls = accumulator.output_pull.index_select(0, active).to(work)
    if not accumulator.segments:
        return pulls
    ends = [start for _, start in accumulator.segments[1:]] + [accumulator.output_pull]
    increments = [
        (end - start).index_select(0, active).to(work)
        for (_, start), end in zip(accumulator.segments, ends, strict=True)
    ]
    trainable = [p for p in module.parameters() if p.requires_grad]
    final_weights = [p.detach().clone() for p in trainable]
    n_params = max(sum(p.numel() for p in trainable), 1)
    chunk = max(1, _ALIGN_ENTRIES // n_params)
    aligned = torch.zeros_like(pulls)
    try:
        for rows in torch.arange(len(active), device=active.device).split(chunk):
            x, e = X.index_select(0, rows), direction.index_select(0, rows)
            torch._foreach_copy_(trainable, final_weights)
            final = _output_jacobian(module, x, e).to(work)
            norm2 = final.square().sum(dim=1)
            for (weights, _), increment in zip(accumulator.segments, increments, strict=True):
                torch._foreach_copy_(trainable, weights)
                then = _output_jacobian(module, x, e).to(work)
                ratio = (then * final).sum(dim=1) / torch.where(norm2 > 0, norm2, 1.0)
                aligned[rows] += increment.index_select(0, rows) * torch.where(
                    norm2 > 0, ratio, 1.0
                )
    finally:
        torch._foreach_copy_(trainable, final_weights)
    return aligned


def _output_jacobian(module: nn.Module, X: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Per-sample gradients of the output along ``direction``, ``(n, n_trainable)``: from
    the layer factors of :func:`per_sample_gram`'s fast paths (one forward and backward,
    the LSTM's fused kernel included), else by ``torch.func``."""
    with torch.enable_grad():
        rows, _ = per_sample_gram(module, _output_along, X, direction, lazy=True)
        jacobian = rows.jacobian() if isinstance(rows, GramRows) else None
        if jacobian is None:
            jacobian = per_sample_jacobian(module, _output_along, X, direction)
    return jacobian.detach()


def _output_along(output: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """Per sample, the output's component along a fixed direction (the "loss" whose
    per-sample gradients are the jackknife's ``d_i``)."""
    return (output * direction).sum(dim=1)

"""Optimizer specs, hand-written optimizers, the per-sample Gram and the box-QP solver.

The public names of the optimization wing (:mod:`sklearn_iw.optim`, importance weights in
:mod:`sklearn_iw.optim.iw`), gathered in one module. Nothing there knows about estimators:
specs turn parameters into ``torch.optim.Optimizer`` objects and solvers are pure tensor
functions.
"""

from .optim._registry import (
    OPTIMIZERS,
    SCHEDULES,
    optimizer_table,
    quoted_names,
    resolve_optimizer,
    resolve_schedule,
)
from .optim._schedules import (
    Constant,
    Cosine,
    CosineRestarts,
    Exponential,
    InverseSqrt,
    InverseTime,
    Linear,
    OneCycle,
    Plateau,
    ScheduleSpec,
    lr_factors,
)
from .optim._spec import OptimizerSpec, quadratic_iterates
from .optim.iw._gram import (
    GramRows,
    linear_call_recorder,
    per_sample_gram,
    per_sample_gram_functional,
)
from .optim.iw._importance_weights import ImportanceWeights, ImportanceWeightsOptimizer
from .optim.iw._protocol import PerSampleOptimizer, PerSampleStep
from .optim.iw._qp import BoxQPResult, GramOperator, box_qp_duality_gap, solve_box_qp
from .optim.rules._base import RuleOptimizer
from .optim.rules.adadelta import Adadelta
from .optim.rules.adagrad import Adagrad, AdagradOptimizer
from .optim.rules.adam import Adam
from .optim.rules.bfgs import BFGS, BFGSOptimizer
from .optim.rules.cg import CG, CGOptimizer
from .optim.rules.delta_bar_delta import DeltaBarDelta, DeltaBarDeltaOptimizer
from .optim.rules.delta_delta import DeltaDelta, DeltaDeltaOptimizer
from .optim.rules.lbfgs import LBFGS
from .optim.rules.momentum import Momentum, MomentumOptimizer
from .optim.rules.nesterov import Nesterov, NesterovOptimizer
from .optim.rules.newton import Newton, NewtonOptimizer
from .optim.rules.quickprop import Quickprop, QuickpropOptimizer
from .optim.rules.rmsprop import RMSprop, RMSpropOptimizer
from .optim.rules.rprop import Rprop, RpropOptimizer
from .optim.rules.sgd import GD, SGD

__all__: list[str] = [
    "ImportanceWeights",
    "ImportanceWeightsOptimizer",
    "OPTIMIZERS",
    "SCHEDULES",
    "GD",
    "LBFGS",
    "BFGS",
    "CG",
    "Newton",
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "DeltaBarDelta",
    "DeltaDelta",
    "Momentum",
    "Nesterov",
    "OptimizerSpec",
    "Quickprop",
    "RMSprop",
    "Rprop",
    "resolve_optimizer",
    "quoted_names",
    "optimizer_table",
    "quadratic_iterates",
    "AdagradOptimizer",
    "BFGSOptimizer",
    "CGOptimizer",
    "NewtonOptimizer",
    "DeltaBarDeltaOptimizer",
    "DeltaDeltaOptimizer",
    "MomentumOptimizer",
    "NesterovOptimizer",
    "QuickpropOptimizer",
    "RMSpropOptimizer",
    "RpropOptimizer",
    "RuleOptimizer",
    "Constant",
    "Cosine",
    "CosineRestarts",
    "Exponential",
    "InverseSqrt",
    "InverseTime",
    "Linear",
    "OneCycle",
    "Plateau",
    "ScheduleSpec",
    "resolve_schedule",
    "lr_factors",
    "GramRows",
    "linear_call_recorder",
    "per_sample_gram",
    "per_sample_gram_functional",
    "BoxQPResult",
    "GramOperator",
    "PerSampleOptimizer",
    "PerSampleStep",
    "box_qp_duality_gap",
    "solve_box_qp",
]

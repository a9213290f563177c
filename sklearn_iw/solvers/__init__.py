"""Optimizer specs, hand-written optimizers, the per-sample Gram and the box-QP solver.

Nothing in this package knows about estimators: specs turn parameters into
``torch.optim.Optimizer`` objects and solvers are pure tensor functions.
"""

from ._gram import GramRows, linear_call_recorder, per_sample_gram, per_sample_gram_functional
from ._importance import ImportanceWeights, ImportanceWeightsOptimizer
from ._protocol import PerSampleOptimizer, PerSampleStep
from ._qp import BoxQPResult, GramOperator, box_qp_duality_gap, solve_box_qp
from ._registry import (
    OPTIMIZERS,
    SCHEDULES,
    optimizer_table,
    quoted_names,
    resolve_optimizer,
    resolve_schedule,
)
from ._schedules import (
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
from ._spec import OptimizerSpec, quadratic_iterates
from .rules._base import RuleOptimizer
from .rules.adadelta import Adadelta
from .rules.adagrad import Adagrad, AdagradOptimizer
from .rules.adam import Adam
from .rules.bfgs import BFGS, BFGSOptimizer
from .rules.cg import CG, CGOptimizer
from .rules.delta_bar_delta import DeltaBarDelta, DeltaBarDeltaOptimizer
from .rules.delta_delta import DeltaDelta, DeltaDeltaOptimizer
from .rules.lbfgs import LBFGS
from .rules.momentum import Momentum, MomentumOptimizer
from .rules.nesterov import Nesterov, NesterovOptimizer
from .rules.newton import Newton, NewtonOptimizer
from .rules.quickprop import Quickprop, QuickpropOptimizer
from .rules.rmsprop import RMSprop, RMSpropOptimizer
from .rules.rprop import Rprop, RpropOptimizer
from .rules.sgd import GD, SGD

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

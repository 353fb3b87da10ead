"""A sweep's plan: what the analysis must know of a sweep beyond its points.

The plan is written into the run at step 0 (tag -> value, `tags.PLAN_*`) by
`StepRecorder`: the swept range and steps, the batch size, and what the
sweep's optimizer does to the curve (its momentum lag, whether its rate is a
step size at all). Read from a Keras optimizer's public config; no
TensorFlow, so a loop on another Keras backend can write it too.
"""

from __future__ import annotations

import secrets

import keras

from tb_lrfinder.core.momentum import lag_of_momentum
from tb_lrfinder.logformat import tags


def updating_optimizer(optimizer):
    """The optimizer that applies the updates, with their step count and rate: a
    LossScaleOptimizer's inner one (whose step does not advance on a skipped update)."""
    return getattr(optimizer, "inner_optimizer", optimizer)


def momentum_lag(optimizer) -> float:
    """Steps an optimizer's update lags its gradients: beta/(1-beta) of its
    momentum (SGD's `momentum`, RMSprop's `momentum`, the `beta_1` of Adam
    and its kin), 0 without; from its public config."""
    config = updating_optimizer(optimizer).get_config()
    beta = config.get("beta_1", config.get("momentum", 0.0))
    try:
        return lag_of_momentum(float(beta))
    except (TypeError, ValueError):
        return 0.0


def rate_is_a_step_size(optimizer) -> bool:
    """False for FTRL, whose rate scales the weights it sets: a sweep's curve cannot show its good
    constant rates (`find_lr` warns)."""
    return not isinstance(updating_optimizer(optimizer), keras.optimizers.Ftrl)


def accumulation_steps(optimizer) -> int:
    """Micro-batches per applied update (Keras's `gradient_accumulation_steps`), 1 if none."""
    return int(getattr(updating_optimizer(optimizer), "gradient_accumulation_steps", None) or 1)


def optimizer_plan(optimizer) -> dict[str, float]:
    """The plan entries (`tags.PLAN_*`) that describe the sweep's optimizer."""
    return {tags.PLAN_MOMENTUM_LAG: momentum_lag(optimizer),
            tags.PLAN_STEP_SIZE: float(rate_is_a_step_size(optimizer))}


def new_sweep_id() -> int:
    """A random id for a sweep (`tags.PLAN_SWEEP_ID`): a whole number in [1, 2**24), exact in float32."""
    return 1 + secrets.randbelow(2**24 - 1)


def sweep_plan(min_lr: float, max_lr: float, num_steps: int, batch_size: int | None, optimizer) -> dict:
    """The plan of an exponential sweep (`StepRecorder(..., plan=...)`): its
    range and steps as for `find_lr`, its batch size (None or 0: not known),
    `optimizer_plan(optimizer)`, and a new sweep id (`new_sweep_id`).

    >>> import keras
    >>> plan = sweep_plan(1e-7, 10.0, 200, 64, keras.optimizers.SGD(momentum=0.9))
    >>> round(plan["lr_finder/plan/momentum_lag"], 6), plan["lr_finder/plan/batch_size"]
    (9.0, 64)
    """
    return {
        tags.PLAN_MIN_LR: min_lr, tags.PLAN_MAX_LR: max_lr, tags.PLAN_STEPS: num_steps, tags.PLAN_LINEAR: 0,
        tags.PLAN_BATCH_SIZE: batch_size or 0, **optimizer_plan(optimizer), tags.PLAN_SWEEP_ID: new_sweep_id(),
    }

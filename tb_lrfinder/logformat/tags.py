"""Tag names shared by the writing side (`recorder`) and the reading side (`reader`, `runs`).

Besides these names the two sides share only the TFRecord framing (`events`)
and the stop rule (`analysis.diverged`); the reading side never imports TensorFlow.
"""

from __future__ import annotations

PREFIX = "lr_finder"


LEARNING_RATE = f"{PREFIX}/learning_rate"
"""Learning rate applied at the optimizer step (the scalar's step)."""


LOSS = f"{PREFIX}/loss"
"""True loss of the batch of that step, computed before the update."""


SMOOTHED_LOSS = f"{PREFIX}/smoothed_loss"
"""Debiased exponential moving average of LOSS: the stop rule's curve, written by the
recorder (and by the report, for a log that lacks it)."""


SUMMARY_TEXT = f"{PREFIX}/analysis"


SUMMARY_PLOT = f"{PREFIX}/loss_vs_learning_rate"


# Tags other writers use, in order of preference, when a run was not written by
# this project (Keras's TensorBoard callback, PyTorch Lightning, fastai, ...).
LEARNING_RATE_CANDIDATES = (
    LEARNING_RATE,
    "learning_rate",
    "lr",
    "epoch_learning_rate",
    "batch_learning_rate",
    "Train/Samples/lr",
    "train/lr",
    "train/learning_rate",
    "lr-SGD",
    "lr-Adam",
    "lr-AdamW",
)


LOSS_CANDIDATES = (
    LOSS,
    "loss",
    "train_loss",
    "train/loss",
    "Train/Samples/train_loss",
    "Loss/train",
    "batch_loss",
    "training_loss",
    "train_loss_step",
    "train/loss_step",
    "loss_step",
)
"""Loss tags of other writers, in order of preference. Where none is there, a tag that names a loss
is looked for; validation and test losses (`HELD_OUT_WORDS`) are never taken on their own: a range
test reads the training loss of each step."""


HELD_OUT_WORDS = ("val", "valid", "validation", "test", "eval", "evaluation", "holdout", "dev")
"""Words that mark a tag as measured on held-out data (`val_loss`, `Loss/validation`, `test/loss`)."""


METRIC_RECOMMENDED_LR = f"{PREFIX}/metrics/recommended_lr"


METRIC_LOSS_MINIMUM = f"{PREFIX}/metrics/minimum_of_smoothed"


METRIC_STOP_STEP = f"{PREFIX}/metrics/stop_step"


METRIC_STOP_RATE = f"{PREFIX}/metrics/stop_rate"


METRIC_RANGE_LOW = f"{PREFIX}/metrics/range_low"


METRIC_RANGE_HIGH = f"{PREFIX}/metrics/range_high"


VAL_LOSS = f"{PREFIX}/val_loss"
"""Loss on a fixed validation subsample, every k steps (the validation overlay)."""


SKIPPED_UPDATES = f"{PREFIX}/skipped_updates"
"""Attempts at this step whose update was skipped (non-finite gradients under loss scaling)."""


PLAN_PREFIX = f"{PREFIX}/plan"
"""The sweep's plan, one scalar each at step 0, so that a reader of the run
knows what was asked for (and can tell a sweep that ran out of data from one
that reached its last step)."""


PLAN_MIN_LR = f"{PLAN_PREFIX}/min_lr"


PLAN_MAX_LR = f"{PLAN_PREFIX}/max_lr"


PLAN_STEPS = f"{PLAN_PREFIX}/num_steps"


PLAN_LINEAR = f"{PLAN_PREFIX}/linear"
"""1 for a linear sweep, 0 for an exponential one."""


PLAN_BATCH_SIZE = f"{PLAN_PREFIX}/batch_size"
"""Samples per optimizer step; 0 where not known."""


PLAN_MOMENTUM_LAG = f"{PLAN_PREFIX}/momentum_lag"
"""Steps the optimizer's response lags the rate: beta/(1-beta) of its momentum (0 without)."""


PLAN_STEP_SIZE = f"{PLAN_PREFIX}/rate_is_step_size"
"""1 where the optimizer's rate is a step size; 0 for FTRL, whose rate scales the weights it sets
(absent: 1)."""


PLAN_SWEEP_ID = f"{PLAN_PREFIX}/sweep_id"
"""A random whole number below 2**24 (exact in float32) naming this sweep: its verification trials
record it (`TRIAL_SWEEP_ID`), so that a reader attaches to a run only the trials of that very sweep,
never those a deleted run of another model left in the same place."""


PLAN_TAGS = (PLAN_MIN_LR, PLAN_MAX_LR, PLAN_STEPS, PLAN_LINEAR, PLAN_BATCH_SIZE, PLAN_MOMENTUM_LAG,
             PLAN_STEP_SIZE, PLAN_SWEEP_ID)


TRIAL_LOSS = f"{PREFIX}/trial/held_out_loss"
"""A verification trial's loss on held-out data after each round (step: the steps it had trained)."""


TRIAL_RATE = f"{PREFIX}/trial/learning_rate"
"""A verification trial's constant learning rate."""


TRIAL_TIE = f"{PREFIX}/trial/tie"
"""At step 0, where verification's last comparison takes near-equal held-out losses as a tie (with
`train_steps`): the margin, a fraction of the start's held-out loss (absent: none)."""


TRIAL_SWEEP_ID = f"{PREFIX}/trial/sweep_id"
"""At step 0: the `PLAN_SWEEP_ID` of the sweep whose rate the trial verifies (absent: a trial run
by `verify_rate` alone, or by a version that did not record it)."""


TRIAL_TRAINING_STEPS = f"{PREFIX}/trial/training_steps"
"""At step 0: the optimizer steps of the training the verification's budget was a share of
(`find_lr`'s `train_steps`; absent: not given)."""


METRIC_VERIFIED_LR = f"{PREFIX}/metrics/verified_lr"

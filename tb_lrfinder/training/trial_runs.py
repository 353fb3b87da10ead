"""Verification trials as TensorBoard runs: each trial's writer, and what a reader needs at its step 0."""

from __future__ import annotations

import os
import time

from tb_lrfinder.logformat import tags


def trial_writers(base: str, initial_loss: float, tie: float, sweep_id: int | None,
                   training_steps: int | None = None):
    """A function (index, rate) -> the event writer of that trial's run, `<base>/trial_<i>_<rate>`,
    which starts with the held-out loss after 0 steps (and the last comparison's `tie`, where not 0;
    the sweep's id and the planned training's steps, where given)."""
    from tensorboard.plugins.scalar import metadata as scalar_metadata

    from tb_lrfinder.logformat.writer import EventFileWriter

    descriptions = {tags.TRIAL_LOSS: "Loss on held-out data after each round of the trial",
                    tags.TRIAL_RATE: "The trial's constant learning rate",
                    tags.TRIAL_TIE: "Held-out losses this close (a fraction of the start's) tie in the last comparison",
                    tags.TRIAL_SWEEP_ID: "The id of the sweep whose rate the trial verifies",
                    tags.TRIAL_TRAINING_STEPS: "Optimizer steps of the training whose share verification took"}
    metadata = {tag: scalar_metadata.create_summary_metadata(display_name="", description=text).SerializeToString()
                for tag, text in descriptions.items()}

    def writer_of(i: int, rate: float):
        writer = EventFileWriter(os.path.join(base, f"trial_{i}_{rate:.3g}"), metadata=metadata)
        at_start = {tags.TRIAL_LOSS: initial_loss, tags.TRIAL_RATE: rate, **({tags.TRIAL_TIE: tie} if tie else {}),
                    **({tags.TRIAL_SWEEP_ID: float(sweep_id)} if sweep_id is not None else {}),
                    **({tags.TRIAL_TRAINING_STEPS: float(training_steps)} if training_steps else {})}
        writer.scalars(0, tuple(at_start), tuple(at_start.values()), time.time())
        return writer

    return writer_of

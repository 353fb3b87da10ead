"""`find_lr`'s verification step: whether and how a sweep's rate is verified, within what budget."""

from __future__ import annotations

import dataclasses
import warnings

from tb_lrfinder.analysis.halving import (
    MIN_FIRST_ROUND,
    halving_cost,
    one_training_budget,
    search_for,
    trial_budget,
)
from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.results.result import RangeTestResult
from tb_lrfinder.sweep.plan import accumulation_steps, rate_is_a_step_size
from tb_lrfinder.training.data import batches_available
from tb_lrfinder.training.settings import SweepSettings
from tb_lrfinder.training.trials import verify_rate


def verified(result: RangeTestResult, model, x, y, settings: SweepSettings, validation_data, log_dir: str):
    """`result` with the verification of its rate, where the settings ask for one and there is
    something to search (`search_for`: around the rate, or over the swept range where the rate is
    not a step size), within the budget they give (`trial_budget_of`)."""
    if not settings.candidates:
        return result
    rate = None if result.recommended is None else result.recommended.learning_rate
    search = search_for(rate, result.analysis.stop.reason, candidates=settings.candidates,
                        swept=(settings.min_lr, settings.max_lr), rate_is_step_size=rate_is_a_step_size(model.optimizer))
    if search is None:
        notes = "; ".join(result.analysis.notes)
        warnings.warn(f"verify: nothing was verified, as the sweep gave no rate to verify "
                      f"({notes or result.analysis.stop.message})", UserWarning, stacklevel=3)
        return result
    swept_steps = sum(len(sweep.curve["step"]) for sweep in (result.repeats or (result,)))
    budget, full_length, assumed = trial_budget_of(model, x, settings, swept_steps, search["candidates"])
    try:
        if settings.verbose:  # the sweep's answer now, not after the trials
            from tb_lrfinder.reporting.text import format_result

            print(format_result(result), flush=True)
            print(f"verifying: {search['candidates']} candidate rates trained from the model's start, "
                  "judged on held-out loss", flush=True)
        verification = verify_rate(model, x, y, **search, batch_size=settings.batch_size,
                                   validation_data=validation_data, shuffle=settings.shuffle, log_dir=log_dir,
                                   train_steps=full_length, sweep_id=result.sweep_id, verbose=settings.verbose,
                                   budget=budget, training_steps=settings.train_steps)
    except LRFinderError as error:
        raise LRFinderError(f"verification failed, {error} (the sweep itself is logged in {log_dir})") from error
    verification = dataclasses.replace(verification, sweep_steps=swept_steps, message=verification.message + (
        f"; {assumed}" if assumed else ""))
    return dataclasses.replace(result, verification=verification)


def trial_budget_of(model, x, settings: SweepSettings, swept_steps: int,
                  candidates: int) -> tuple[int | None, int | None, str]:
    """(the optimizer steps the trials may take, None: no limit; the training's length to judge the
    last pair at, None: none; what was assumed or changed, for the message): `trial_budget`'s share
    of `train_steps` where it holds trials of `MIN_FIRST_ROUND`-step first rounds, else one
    training's steps for a training of `ONE_TRAINING_FROM` steps or more, else the training's
    whole length; without `train_steps`, about one pass over the data."""
    if settings.train_steps is not None:
        if settings.verify_budget is None:
            return None, settings.train_steps, ""
        budget = trial_budget(settings.verify_budget, training_steps=settings.train_steps, swept_steps=swept_steps,
                              candidates=candidates)
        if budget is not None:
            return budget, None, ""
        cannot_hold = (f"{settings.verify_budget:g} of the training's {settings.train_steps} steps cannot hold the "
                       f"sweep's {swept_steps} and trials of {MIN_FIRST_ROUND}-step first rounds, so ")
        budget = one_training_budget(training_steps=settings.train_steps, swept_steps=swept_steps,
                                     candidates=candidates)
        if budget is not None:
            return budget, None, cannot_hold + "sweep and trials took at most one training's steps instead"
        return None, settings.train_steps, (
            cannot_hold + "the last two candidates were judged at the training's whole length instead (about 2.7x "
            "its steps; shorter trials favour rates that break down later)")
    if settings.verify_budget is None:
        return None, None, ""
    per_pass = batches_available(x, settings.batch_size)
    floor = halving_cost(candidates) * MIN_FIRST_ROUND
    budget = max(floor, -(-per_pass // accumulation_steps(model.optimizer)) if per_pass else 2 * floor)
    return budget, None, ("the training's length was not given (train_steps), so the trials took at most "
                          + (f"one pass over the data ({budget} optimizer steps)" if per_pass and budget > floor else
                             f"{budget} optimizer steps (first rounds of {MIN_FIRST_ROUND})")
                          + "; trials this short favour rates that break down later: give train_steps for a check "
                            "sized to your training")

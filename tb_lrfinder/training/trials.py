"""Verification's training driver: short trainings that confirm a recommended rate.

`verify_rate` trains candidate rates, each from the model's starting state with an optimizer of
its own, and judges them on held-out loss; which candidates train how long, and what they decide,
is `tb_lrfinder.analysis.halving` and `tb_lrfinder.analysis.verdicts`. The model and its
optimizer are restored bit for bit afterwards, whatever happens (as `find_lr` does).

Each trial is a TensorBoard run (`<log_dir>/trial_<i>_<rate>`: tags `tags.TRIAL_LOSS` after each
round, `tags.TRIAL_RATE`, and at step 0 what a reader needs to conclude the same); the result
counts the optimizer steps spent."""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Iterator

import numpy as np

from tb_lrfinder.analysis.halving import (
    PLATEAU_LENGTHENING,
    first_round_for,
    first_round_for_budget,
    successive_halving,
)
from tb_lrfinder.analysis.verdicts import (
    FINAL_TIE,
    Trial,
    Verification,
    conclude,
    diverged_trial,
)
from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.core.validation import int_at_least, positive_float
from tb_lrfinder.logformat import tags
from tb_lrfinder.training.checks import check_compiled
from tb_lrfinder.training.data import (
    batches_available,
    first_array,
    fit_steps,
    is_stream,
    take_rows,
    with_batch_left,
)
from tb_lrfinder.training.model_state import (
    ModelState,
    optimizer_copy,
    restore,
    snapshot,
)
from tb_lrfinder.training.progress import TrialProgress
from tb_lrfinder.training.trial_runs import trial_writers


def check_held_out(x, validation_data) -> None:
    """Raise unless the trials have data to be judged on: `validation_data`, or a part of
    array `x` held out (a stream of batches cannot be split)."""
    if validation_data is None and is_stream(x):
        raise LRFinderError(f"verification of a {type(x).__name__} needs validation_data=(x_val, y_val) to judge "
                            "the trials on (a stream of batches cannot be split)")


def _held_out_split(x, y, fraction: float):
    """(train x, train y, held-out x, held-out y): a fixed random `fraction` of array data held out."""
    n = int(first_array(x).shape[0])
    held = max(1, int(round(n * fraction)))
    if n - held < 1:
        raise LRFinderError(f"verification needs more than {n} samples to hold {fraction:g} of them out")
    order = np.random.default_rng(0).permutation(n)
    kept, out = np.sort(order[held:]), np.sort(order[:held])
    return take_rows(x, kept), take_rows(y, kept), take_rows(x, out), take_rows(y, out)


def _held_out_data(validation_data):
    """(x, y) every trial is evaluated on: (x_val, y_val), or a Dataset or PyDataset (y None).
    An iterator is refused: the first evaluation would use it up."""
    if isinstance(validation_data, Iterator):
        raise LRFinderError(f"validation_data must be (x_val, y_val), a Dataset or a PyDataset, not a "
                            f"{type(validation_data).__name__}: every trial is evaluated on it, and the first "
                            "evaluation would use it up")
    return (validation_data, None) if is_stream(validation_data) else validation_data[:2]


def _held_out_loss(model, x, y, batch_size) -> float:
    if is_stream(x):
        result = model.evaluate(x, verbose=0, return_dict=True)
    else:
        result = model.evaluate(x, y, batch_size=batch_size or 32, verbose=0, return_dict=True)
    loss = float(result["loss"])
    return loss if math.isfinite(loss) else math.inf


def verify_rate(
    model,
    x,
    y=None,
    *,
    learning_rate: float,
    candidates: int = 5,
    spread: float = 4.0,
    max_rate: float | None = None,
    windows_above: int = 0,
    first_round_steps: int | None = None,
    train_steps: int | None = None,
    longer_on_plateau: bool = True,
    batch_size: int | None = None,
    validation_data=None,
    validation_split: float = 0.2,
    shuffle: bool = True,
    log_dir: str | os.PathLike | None = None,
    sweep_id: int | None = None,
    verbose: int = 1,
    budget: int | None = None,
    training_steps: int | None = None,
) -> Verification:
    """Confirm a rate by short trainings of candidates around it (see the module).

    Args:
      model: a compiled `keras.Model` (its optimizer's class and settings are used).
      x, y: training data as for `model.fit`. Each trial trains on it from
        its start; an iterator goes on where the last trial left it, and
        data that runs out before a round's end is an error.
      learning_rate: the rate to verify (e.g. `find_lr(...).learning_rate`).
      candidates: rates tried (>= 2), spread evenly in log(rate) from
        learning_rate / spread to learning_rate * spread, or to `max_rate`
        where that is lower.
      max_rate: no candidate above it (None: up to learning_rate * spread).
      windows_above: how many windows above the candidates may get a first
        round where the highest did best (see the module; 0: none).
      first_round_steps: steps each candidate trains in the first round
        (default: a quarter of one pass over the training data, at least 10).
      train_steps: the optimizer steps of the training the rate is for: the
        rounds are scaled so the last pair trains exactly this long (see the
        module; a first round on a plateau drops no candidate; one left alone
        earlier, the rest having diverged, is not trained further). Not with
        `first_round_steps`.
      longer_on_plateau: where the trials end on a plateau, search once more
        with first rounds `PLATEAU_LENGTHENING` times as long (not with
        `train_steps`: there a first round on a plateau drops none).
      validation_data: (x_val, y_val) to judge on; by default `validation_split`
        of the array data is held out (a fixed random part) and not trained on.
      log_dir: where the trials' runs go, one folder each
        (`<log_dir>/trial_<i>_<rate>`, inside a sweep's run); None for none.
      sweep_id: the `tags.PLAN_SWEEP_ID` of the sweep whose rate this verifies
        (`find_lr` passes its own), recorded in each trial's run so that readers
        attach the trials to that sweep only.
      budget: the most optimizer steps all trials together may take (gradient
        accumulation counted: k batches make one step). A round that would
        pass it is not started; the search ends there and the rounds trained
        decide. Without `first_round_steps` or `train_steps`, the first round
        is sized so that the whole halving fits (`first_round_for_budget`),
        and a last pair reached early (the rest having diverged) trains on,
        each round twice the last, while another round fits. None: no limit.
      training_steps: the optimizer steps of the training the rate is for,
        where `budget` is a share of it: recorded in the result and in each
        trial's run (`tags.TRIAL_TRAINING_STEPS`) so that readers can say what
        share verification took; it changes nothing in the search.
      verbose: 1, a progress bar per trial (round, rate, steps, held-out
        loss, the steps spent in all); 2, one line per round; 0, silent.

    Returns:
      A `Verification`: the winner's rate, every trial, the optimizer steps spent.

    Raises:
      LRFinderError: bad arguments, or training data that runs out. Errors
        of the model or data pass through; the model and its optimizer are
        restored in every case.
    """
    rate = positive_float("learning_rate", learning_rate)
    candidates = int_at_least("candidates", candidates, 2)
    windows_above = int_at_least("windows_above", windows_above, 0)
    spread = positive_float("spread", spread)
    if spread <= 1:
        raise LRFinderError(f"spread must be > 1, got {spread!r}")
    if not 0.0 < validation_split < 1.0:
        raise LRFinderError(f"validation_split must be in (0, 1), got {validation_split!r}")
    check_compiled(model, "verify_rate")
    check_held_out(x, validation_data)
    if validation_data is None:
        x, y, held_x, held_y = _held_out_split(x, y, validation_split)
    else:
        held_x, held_y = _held_out_data(validation_data)
    if train_steps is not None:
        train_steps = int_at_least("train_steps", train_steps, 1)
        if first_round_steps is not None:
            raise LRFinderError("give first_round_steps or train_steps, not both")
    first_round_steps = _first_round_steps(model, x, batch_size, candidates, first_round_steps=first_round_steps,
                                           train_steps=train_steps, budget=budget)
    if budget is not None:
        budget = int_at_least("budget", budget, 1)
    if training_steps is not None:
        training_steps = int_at_least("training_steps", training_steps, 1)

    if max_rate is not None:
        max_rate = positive_float("max_rate", max_rate)
    saved = ModelState(model)
    tie = 0.0 if train_steps is None else FINAL_TIE  # judged at the training's length, near-equal is equal
    settings = dict(rate=rate, candidates=candidates, spread=spread, max_rate=max_rate, windows_above=windows_above,
                    train_steps=train_steps)
    trials = None
    try:
        initial_loss = _held_out_loss(model, held_x, held_y, batch_size)
        writer_of = None if log_dir is None else trial_writers(os.fspath(log_dir), initial_loss, tie, sweep_id,
                                                                 training_steps)
        trials = _Trials(model, x, y, (held_x, held_y), start=saved.weights, batch_size=batch_size, shuffle=shuffle,
                         writer_of=writer_of, progress=TrialProgress(verbose), budget=budget)
        verification = _search(trials, settings, first_round_steps=first_round_steps, initial_loss=initial_loss,
                               tie=tie, longer_on_plateau=longer_on_plateau and train_steps is None)
        verification = dataclasses.replace(verification, training_steps=training_steps)
    finally:
        try:
            if trials is not None:
                trials.close()
        finally:
            saved.restore()
    return verification


def _first_round_steps(model, x, batch_size, candidates: int, *, first_round_steps: int | None,
                       train_steps: int | None, budget: int | None) -> int:
    """The steps each candidate trains in the first round: as given; else sized so that the last pair
    trains `train_steps` in all (`first_round_for`), or the whole halving fits `budget`
    (`first_round_for_budget`, in batches: k of them make one step under gradient accumulation);
    else a quarter of one pass over the data, at least 10."""
    if train_steps is not None:
        first_round_steps = first_round_for(train_steps, candidates)
    elif first_round_steps is None and budget is not None:
        from tb_lrfinder.sweep.plan import accumulation_steps

        first_round_steps = first_round_for_budget(int_at_least("budget", budget, candidates), candidates) * \
            accumulation_steps(model.optimizer)
    elif first_round_steps is None:
        per_pass = None if is_stream(x) else batches_available(x, batch_size)
        first_round_steps = max(10, (per_pass or 40) // 4)
    return int_at_least("first_round_steps", first_round_steps, 1)


def _search(trials: _Trials, settings: dict, *, first_round_steps: int, initial_loss: float, tie: float,
            longer_on_plateau: bool) -> Verification:
    """Successive halving within the trials' budget and what it concludes; where the trials end on a
    plateau and `longer_on_plateau`, once more with first rounds `PLATEAU_LENGTHENING` times as long."""
    spent = _search_within_budget(trials, first_round_steps=first_round_steps, initial_loss=initial_loss, **settings)
    verification = conclude(trials.result(initial_loss), initial_loss, settings["rate"], tie=tie)
    if longer_on_plateau and verification.plateau and not spent:
        # The trials were too short to tell the rates apart: once more, longer.
        spent = _search_within_budget(trials, first_round_steps=first_round_steps * PLATEAU_LENGTHENING,
                                      initial_loss=initial_loss, **settings)
        verification = conclude(trials.result(initial_loss), initial_loss, settings["rate"], tie=tie)
    if trials.budget is not None:
        ended = f"; the budget of {trials.budget} steps ended the search early" if spent else ""
        verification = dataclasses.replace(verification, budget=trials.budget,
                                           message=f"{verification.message}{ended}")
    return verification

class _Trials:
    """The candidates of a verification, each trained from the model's start
    with an optimizer of its own: by index, in the order added, each one's
    rate, held-out loss after each round, optimizer steps, first round's
    steps, and run writer (None without runs)."""

    def __init__(self, model, x, y, held_out, *, start, batch_size, shuffle, writer_of, progress=None, budget=None):
        self.model, self.x, self.y, self.held_out = model, x, y, held_out
        self.start, self.user_optimizer = start, model.optimizer
        self.batch_size, self.shuffle, self.writer_of = batch_size, shuffle, writer_of
        self.progress = progress if progress is not None else TrialProgress(0)
        self.budget = budget  # optimizer steps for all trials together; None: no limit
        from tb_lrfinder.sweep.plan import accumulation_steps

        self.accumulation = accumulation_steps(model.optimizer)
        self.rates: list[float] = []
        self.losses: list[list[float]] = []
        self.steps: list[int] = []
        self.first_rounds: list[int] = []
        self.writers: list = []
        self._weights: list = []
        self._optimizers: list = []

    def add(self, window, first_round_steps: int) -> list[int]:
        """Candidates at the rates of `window`, at the model's start; their indices."""
        added = []
        for rate in map(float, window):
            i = len(self.rates)
            self.rates.append(rate)
            self.losses.append([])
            self.steps.append(0)
            self.first_rounds.append(first_round_steps)
            self.writers.append(self.writer_of(i, rate) if self.writer_of is not None else None)
            self._weights.append(self.start)
            self._optimizers.append(optimizer_copy(self.user_optimizer, rate))
            added.append(i)
        return added

    def train(self, indices, steps: int) -> None:
        """Train each of `indices` `steps` more batches (fewer where its loss
        goes non-finite), then record its held-out loss."""
        import keras

        if self.fits(indices, steps) is False:
            raise _BudgetSpent()
        self.progress.round_starts(steps)
        for i in indices:
            has_batches, self.x = with_batch_left(self.x)  # an iterator goes on where the last trial left it
            if not has_batches:
                raise _ran_out(self.rates[i], steps)
            restore(self.model.variables, self._weights[i])
            self.model.optimizer = self._optimizers[i]
            self.model.train_function = None
            guard = _trial_guard(keras)
            bar = self.progress.trial_starts(self.rates[i], steps, self.losses[i][-1] if self.losses[i] else None)
            fit_steps(self.model, self.x, self.y, steps, batch_size=self.batch_size, shuffle=self.shuffle,
                      callbacks=[guard] + ([bar] if bar is not None else []))
            if guard.batches < steps and not guard.stopped:
                raise _ran_out(self.rates[i], steps)
            trained = int(self._optimizers[i].iterations.numpy()) - self.steps[i]
            self.steps[i] += trained
            self._weights[i] = snapshot(self.model.variables)
            self.losses[i].append(_held_out_loss(self.model, *self.held_out, self.batch_size))
            self.progress.trial_ends(self.rates[i], trained, self.losses[i][-1])
            if self.writers[i] is not None:
                self.writers[i].scalars(self.steps[i], (tags.TRIAL_LOSS, tags.TRIAL_RATE),
                                        (self.losses[i][-1], self.rates[i]), time.time())
                self.writers[i].flush()
        self.progress.round_ends()

    def latest(self, i: int) -> float:
        """Trial `i`'s held-out loss after its last round."""
        return self.losses[i][-1]

    def fits(self, indices, steps: int) -> bool | None:
        """Whether `steps` more batches for each of `indices` stay within the budget, in optimizer
        steps (k batches make one under gradient accumulation); None without a budget."""
        if self.budget is None:
            return None
        return sum(self.steps) + len(indices) * math.ceil(steps / self.accumulation) <= self.budget

    def result(self, initial_loss: float) -> tuple[Trial, ...]:
        """Every candidate that trained (one added where the budget then ended the search did not)."""
        return tuple(
            Trial(rate, tuple(losses), steps, writer.log_dir if writer is not None else None,
                  diverged_trial(losses[-1], initial_loss), first_round)
            for rate, losses, steps, writer, first_round
            in zip(self.rates, self.losses, self.steps, self.writers, self.first_rounds) if losses
        )

    def close(self) -> None:
        for writer in self.writers:
            if writer is not None:
                writer.close()


class _BudgetSpent(Exception):
    """The next round would pass the trials' budget (see `verify_rate`)."""


def _search_within_budget(trials: _Trials, **settings) -> bool:
    """`successive_halving` until it ends or its budget would be passed; whether the budget ended it."""
    try:
        successive_halving(trials, **settings)
    except _BudgetSpent:
        if not any(trials.losses):  # not even a first round fitted
            raise LRFinderError(f"a verification budget of {trials.budget} optimizer steps cannot train one round of "
                                "the candidates: raise it or give fewer candidates") from None
        return True
    return False


def _trial_guard(keras):
    """A callback that ends `fit` at the first non-finite training loss (as
    `keras.callbacks.TerminateOnNaN`) and records whether it did (`stopped`)
    and how many batches were trained (`batches`: the optimizer's step count
    is not that number under gradient accumulation or skipped updates)."""

    class TrialGuard(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.stopped = False
            self.batches = 0

        def on_train_batch_end(self, batch, logs=None):
            self.batches += getattr(self.model, "steps_per_execution", 1) or 1  # one call per execution
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.stopped = True
                self.model.stop_training = True

    return TrialGuard()


def _ran_out(rate: float, wanted: int) -> LRFinderError:
    return LRFinderError(
        f"the training data ran out before the {wanted} steps of the trial at rate {rate:.3g}: every trial "
        f"trains on x from its start, so x must give at least {wanted} batches each time (arrays, a Dataset or "
        "PyDataset that can be iterated again or repeats, or an endless generator)")



"""Verification: short trainings that confirm a recommended rate.

A rate read from one curve is a guess; a few short trainings check it.
`verify_rate` trains `candidates` constant rates spread evenly in log(rate)
around it (`candidate_rates`), each from the model's starting state, and
keeps the better half by the loss on held-out data after each round
(successive halving): each round trains the survivors twice as long as the
one before, until one is left (`conclude` picks the winner). With
`train_steps` the rounds are scaled so that the last pair trains exactly that
long (`first_round_for`) and is judged there.

No rate at or above one whose trial diverged (held-out loss non-finite or
above the start's, `diverged_trial`) is trusted. Where every candidate
diverges in its first round, windows just below are tried (`LOWER_WINDOWS`);
where asked (`windows_above_for`), and the highest rate did best, windows
just above (`UPPER_WINDOWS`). Where the trials cannot tell the rates apart
(`PLATEAU`), the search runs again with longer rounds (`PLATEAU_LENGTHENING`).
`search_for` says where a sweep's rate is searched: around it, or, for an
optimizer whose sweep cannot show good constant rates (FTRL), over the
whole swept range.
The model and its optimizer are restored bit for bit afterwards, whatever
happens (as `find_lr` does).

Each trial is a TensorBoard run (tags `tags.TRIAL_LOSS` after each round,
`tags.TRIAL_RATE`, and with `train_steps` `tags.TRIAL_TIE`); the result
counts the optimizer steps spent.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from . import tags
from .analysis import NEVER_DIVERGED
from ._data import batches_available, first_array, fit_steps, is_stream, take_rows, with_batch_left
from ._validation import check_compiled, int_at_least, positive_float
from .errors import LRFinderError
from .model_state import ModelState, optimizer_copy, restore, snapshot


LOWER_WINDOWS = 2
"""Where every candidate diverges in its first round, up to this many windows
of as many candidates, each just below the last, are tried in turn."""

UPPER_WINDOWS = 2
"""For a rate read from a sweep that never diverged: where no candidate diverged
in the first round and the highest rate did best (or none improved on the
start), up to this many windows of as many candidates, each just above the
last, get their first round in turn (see `windows_above_for`); the better
half of a window's size then goes on."""

PLATEAU = 0.01
"""Held-out losses within this fraction of the starting model's (of its
absolute value) count as the start's: neither a divergence nor progress; and,
with `train_steps`, two finalists' losses this close as a tie."""

FINAL_TIE = float(np.float32(PLATEAU))
"""With `train_steps`, the last comparison's tie (see `conclude`): `PLATEAU`, as
float32, the value the trial runs store (so a read-back concludes the same)."""

MIN_FIRST_ROUND = 10
"""The shortest first round (optimizer steps) a budget is raised to give the trials (`trial_budget`):
shorter, a round ranks the noise of a few batches."""

PLATEAU_LENGTHENING = 4
"""Where the trials end on a plateau, the search runs once more with first
rounds this many times as long (two of successive halving's doublings)."""


@dataclass(frozen=True)
class Trial:
    """One candidate rate: its held-out loss after each round it took part in
    (inf where not finite), the optimizer steps it trained, its run, whether
    it diverged (ended above the starting model's held-out loss, see
    `diverged_trial`), and the steps of its first round (which search it
    belongs to: the one with the longest first rounds decides)."""

    learning_rate: float
    losses: tuple[float, ...]
    steps: int
    log_dir: str | None
    diverged: bool
    first_round_steps: int = 0


@dataclass(frozen=True)
class Verification:
    """The verified rate, every trial, the cost in optimizer steps (trials
    only; the starting loss is one evaluation), the starting model's
    held-out loss the trials are judged against, whether a trial confirmed
    the rate (else `learning_rate` is the rate given, unconfirmed), and
    whether the deciding trials ended on a plateau; the budget the trials
    had (optimizer steps; None: none)."""

    learning_rate: float
    trials: tuple[Trial, ...]
    steps: int
    message: str
    initial_loss: float
    confirmed: bool = True
    plateau: bool = False
    budget: int | None = None
    training_steps: int | None = None
    sweep_steps: int = 0

    @property
    def share(self) -> float | None:
        """Sweep and trials together as a share of the planned training's optimizer steps
        (`training_steps`); None where its length was not given."""
        if not self.training_steps:
            return None
        return (self.sweep_steps + self.steps) / self.training_steps

    @property
    def winner(self) -> Trial | None:
        """The trial whose rate was confirmed (in the deciding search), or None where none was."""
        if not self.confirmed:
            return None
        deciding = deciding_first_round(self.trials)
        return next((t for t in self.trials if t.first_round_steps == deciding
                     and t.learning_rate == self.learning_rate), None)


def windows_above_for(stop_reason: str) -> int:
    """The windows above a sweep's rate that verification may try: `UPPER_WINDOWS`
    where the sweep ran out of steps or data without diverging (the good rates
    may lie above its top), else 0 (its cliff is known; a rate above the
    window that survives a short trial is past it in a longer training)."""
    return UPPER_WINDOWS if stop_reason in NEVER_DIVERGED else 0


def search_for(rate: float | None, stop_reason: str, *, candidates: int, swept: tuple[float, float],
               rate_is_step_size: bool = True) -> dict | None:
    """`verify_rate`'s search arguments for the rate read from a sweep over
    `swept` (min_lr, max_lr): `candidates` around `rate`, with
    `windows_above_for(stop_reason)` windows above (None where the curve gave
    no rate: nothing to verify); or, for an optimizer whose rate is not a step
    size (FTRL: its curve cannot show good constant rates), over the whole
    swept range, evenly in log(rate), at least one candidate per decade, with
    no window above, whatever the curve gave."""
    if rate_is_step_size:
        if rate is None:
            return None
        return {"learning_rate": rate, "candidates": candidates, "windows_above": windows_above_for(stop_reason)}
    low, high = swept
    decades = math.log10(high / low)
    return {"learning_rate": math.sqrt(low * high), "spread": math.sqrt(high / low),
            "candidates": max(candidates, math.ceil(decades) + 1), "windows_above": 0}


def candidate_rates(rate: float, *, candidates: int, spread: float, max_rate: float | None = None) -> np.ndarray:
    """`candidates` rates from rate/spread to min(rate*spread, max_rate), evenly in log(rate)."""
    low, high = rate / spread, rate * spread
    if max_rate is not None:
        high = max(min(high, max_rate), rate)
    return low * (high / low) ** np.linspace(0.0, 1.0, candidates)


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
        is sized so that the whole halving fits (`first_round_for_budget`).
        None: no limit.
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
        first_round_steps = first_round_for(train_steps, candidates)
    elif first_round_steps is None and budget is not None:
        from .plan import accumulation_steps

        first_round_steps = first_round_for_budget(int_at_least("budget", budget, candidates), candidates) * \
            accumulation_steps(model.optimizer)
    elif first_round_steps is None:
        per_pass = None if is_stream(x) else batches_available(x, batch_size)
        first_round_steps = max(10, (per_pass or 40) // 4)
    first_round_steps = int_at_least("first_round_steps", first_round_steps, 1)
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
        writer_of = None if log_dir is None else _trial_writers(os.fspath(log_dir), initial_loss, tie, sweep_id,
                                                                 training_steps)
        trials = _Trials(model, x, y, (held_x, held_y), start=saved.weights, batch_size=batch_size, shuffle=shuffle,
                         writer_of=writer_of, progress=TrialProgress(verbose), budget=budget)
        spent = _search_within_budget(trials, first_round_steps=first_round_steps, initial_loss=initial_loss,
                                      **settings)
        verification = conclude(trials.result(initial_loss), initial_loss, rate, tie=tie)
        if longer_on_plateau and verification.plateau and train_steps is None and not spent:
            # The trials were too short to tell the rates apart: once more, longer.
            spent = _search_within_budget(trials, first_round_steps=first_round_steps * PLATEAU_LENGTHENING,
                                          initial_loss=initial_loss, **settings)
            verification = conclude(trials.result(initial_loss), initial_loss, rate, tie=tie)
        if budget is not None:
            ended = f"; the budget of {budget} steps ended the search early" if spent else ""
            verification = dataclasses.replace(verification, budget=budget,
                                               message=f"{verification.message}{ended}")
        verification = dataclasses.replace(verification, training_steps=training_steps)
    finally:
        try:
            if trials is not None:
                trials.close()
        finally:
            saved.restore()
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
        from .plan import accumulation_steps

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

        if self.budget is not None and sum(self.steps) + len(indices) * math.ceil(steps / self.accumulation) > \
                self.budget:
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

    def result(self, initial_loss: float) -> tuple[Trial, ...]:
        return tuple(
            Trial(rate, tuple(losses), steps, writer.log_dir if writer is not None else None,
                  diverged_trial(losses[-1], initial_loss), first_round)
            for rate, losses, steps, writer, first_round
            in zip(self.rates, self.losses, self.steps, self.writers, self.first_rounds)
        )

    def close(self) -> None:
        for writer in self.writers:
            if writer is not None:
                writer.close()


class _BudgetSpent(Exception):
    """The next round would pass the trials' budget (see `verify_rate`)."""


def _search_within_budget(trials: _Trials, **settings) -> bool:
    """`_successive_halving` until it ends or its budget would be passed; whether the budget ended it."""
    try:
        _successive_halving(trials, **settings)
    except _BudgetSpent:
        if not any(trials.losses):  # not even a first round fitted
            raise LRFinderError(f"a verification budget of {trials.budget} optimizer steps cannot train one round of "
                                "the candidates: raise it or give fewer candidates") from None
        return True
    return False


def halving_cost(candidates: int) -> int:
    """The steps successive halving trains over `candidates` per step of its first round, without windows:

        sum over rounds k of n_k * 2**k,   n_0 = candidates, n_{k+1} = ceil(n_k / 2), until one is left

    >>> halving_cost(5)  # 5 x 1 + 3 x 2 + 2 x 4
    19
    """
    total, survivors, length = 0, candidates, 1
    while True:
        total += survivors * length
        if survivors <= 2:
            return total
        survivors, length = math.ceil(survivors / 2), length * 2


def trial_budget(share: float, *, training_steps: int, swept_steps: int, candidates: int) -> int:
    """The optimizer steps left to the trials where sweep and trials together may take `share` of a
    training of `training_steps` steps:

        max(ceil(share * training_steps),
            min(training_steps, swept_steps + halving_cost(candidates) * MIN_FIRST_ROUND)) - swept_steps

    the share, raised where it would leave the trials first rounds shorter than `MIN_FIRST_ROUND`
    steps, but never past one training. Below `candidates` nothing can be verified.

    >>> trial_budget(0.1, training_steps=3000, swept_steps=100, candidates=5)  # a tenth
    200
    >>> trial_budget(0.1, training_steps=600, swept_steps=100, candidates=5)  # raised: 10-step first rounds
    190
    >>> trial_budget(0.1, training_steps=48, swept_steps=100, candidates=5)  # the sweep alone is a training
    -52
    """
    wanted = math.ceil(share * training_steps)
    floor = min(training_steps, swept_steps + halving_cost(candidates) * MIN_FIRST_ROUND)
    return max(wanted, floor) - swept_steps


def first_round_for_budget(budget: int, candidates: int) -> int:
    """The longest first round (optimizer steps) whose whole halving fits `budget`: budget // halving_cost."""
    return max(1, budget // halving_cost(candidates))


class TrialProgress:
    """What verification shows while its trials run. `verbose` 1: a progress bar per trial (its
    round, its rate, the steps of the round, its held-out loss so far, the optimizer steps the trials
    have spent in all); 2: one line per round; 0: nothing."""

    _SHOWN = ("round", "rate", "held-out loss", "steps spent")

    def __init__(self, verbose: int):
        self.verbose = verbose
        self.round = 0
        self.spent = 0
        self._steps = 0
        self._ended: list[tuple[float, float]] = []
        self._bar = None

    def round_starts(self, steps: int) -> None:
        self.round += 1
        self._steps = steps
        self._ended = []

    def trial_starts(self, rate: float, steps: int, held_out: float | None):
        """A Keras callback that draws this trial's bar (verbose 1), else None."""
        if self.verbose != 1:
            return None
        import keras

        spent, number = self.spent, self.round
        bar = keras.utils.Progbar(steps, stateful_metrics=self._SHOWN)

        class Bar(keras.callbacks.Callback):
            def __init__(self):
                super().__init__()
                self.done = 0

            def on_train_batch_end(self, batch, logs=None):
                self.done += 1
                if self.done < steps:  # the last update, with the new held-out loss, is `trial_ends`'
                    values = [("round", number), ("rate", rate), ("steps spent", spent + self.done)]
                    bar.update(self.done, values + ([("held-out loss", held_out)] if held_out is not None else []))

        self._bar = bar
        return Bar()

    def trial_ends(self, rate: float, trained: int, held_out: float) -> None:
        self.spent += trained
        self._ended.append((rate, held_out))
        if self.verbose == 1:
            self._bar.update(self._bar.target, [("round", self.round), ("rate", rate),
                                                ("held-out loss", held_out), ("steps spent", self.spent)],
                             finalize=True)

    def round_ends(self) -> None:
        if self.verbose == 2 and self._ended:
            losses = ", ".join(f"{rate:.3g}: {loss:.4g}" for rate, loss in sorted(self._ended))
            print(f"verification round {self.round}: {len(self._ended)} candidate(s) x {self._steps} steps; "
                  f"held-out loss {losses}; {self.spent} steps spent", flush=True)


def _successive_halving(trials: _Trials, *, rate: float, candidates: int, spread: float, max_rate: float | None,
                        windows_above: int, train_steps: int | None, first_round_steps: int,
                        initial_loss: float) -> None:
    """One search from the model's start (see the module): adds its candidates
    to `trials` and trains them round by round until one is left."""
    window = candidate_rates(rate, candidates=candidates, spread=spread, max_rate=max_rate)
    spacing = (window[-1] / window[0]) ** (1.0 / (len(window) - 1))
    survivors = training = trials.add(window, first_round_steps)
    round_steps, lower_windows, upper_windows = first_round_steps, LOWER_WINDOWS, windows_above
    ceiling = math.inf  # the lowest rate that diverged
    while True:
        trials.train(training, round_steps)
        for i in training:
            if diverged_trial(trials.latest(i), initial_loss):
                ceiling = min(ceiling, trials.rates[i])
        survivors = [i for i in survivors if trials.rates[i] < ceiling]
        if round_steps == first_round_steps:
            if not survivors and lower_windows:
                # Every candidate diverged in its first round: the same number of candidates below them.
                lower_windows -= 1
                window = window[0] * spacing ** -np.arange(candidates, 0, -1.0)
                survivors = training = trials.add(window, first_round_steps)
                continue
            above = window[-1] * spacing ** np.arange(1.0, candidates + 1)
            above = above[above <= max_rate] if max_rate is not None else above
            if (upper_windows and len(above) and ceiling == math.inf
                    and _best_at_top(survivors, trials.rates, trials.losses, initial_loss)):
                # None diverged and the highest rate did best: the rates may be too low, a window above.
                upper_windows -= 1
                window = above
                training = trials.add(window, first_round_steps)
                survivors = survivors + training
                continue
        if len(survivors) <= 1:
            return
        if (train_steps is not None and round_steps == first_round_steps
                and not _any_improved(survivors, trials.losses, initial_loss)):
            # A first round on a plateau ranks noise: every survivor trains the next round, none dropped.
            training, round_steps = survivors, round_steps * 2
            continue
        keep = math.ceil(min(len(survivors), candidates) / 2)
        survivors = training = sorted(survivors, key=trials.latest)[:keep]
        if len(survivors) == 1:
            return
        round_steps *= 2
        if train_steps is not None and len(survivors) == 2:
            # The last round ends at the training's length (the survivors have trained alike).
            round_steps = train_steps - trials.steps[survivors[0]]
            if round_steps <= 0:  # reached already: `conclude` judges the pair there
                return


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


def first_round_for(train_steps: int, candidates: int) -> int:
    """The first round's steps for the last pair to train `train_steps` in all:

        train_steps // (2**R - 1),   R = ceil(log2(candidates)) rounds (at least 1 step)

    (successive halving keeps ceil(n / 2) of n candidates; each round trains
    twice as long as the one before)."""
    rounds = max(1, math.ceil(math.log2(candidates)))
    return max(1, train_steps // (2**rounds - 1))


def _best_at_top(trials: list[int], rates: list[float], losses: dict, initial_loss: float) -> bool:
    """Whether the highest rate among `trials` has the lowest latest held-out
    loss, or none of them improved on the start (see `_improved`)."""
    best = min(trials, key=lambda i: losses[i][-1])
    return rates[best] == max(rates[i] for i in trials) or not _any_improved(trials, losses, initial_loss)


def _any_improved(trials: list[int], losses: dict, initial_loss: float) -> bool:
    """Whether any of `trials` has a latest held-out loss below the start's (see `_improved`)."""
    return any(_improved(losses[i][-1], initial_loss) for i in trials)


def _trial_writers(base: str, initial_loss: float, tie: float, sweep_id: int | None,
                   training_steps: int | None = None):
    """A function (index, rate) -> the event writer of that trial's run, `<base>/trial_<i>_<rate>`,
    which starts with the held-out loss after 0 steps (and the last comparison's `tie`, where not 0;
    the sweep's id and the planned training's steps, where given)."""
    from tensorboard.plugins.scalar import metadata as scalar_metadata

    from .events import ScalarEventWriter

    descriptions = {tags.TRIAL_LOSS: "Loss on held-out data after each round of the trial",
                    tags.TRIAL_RATE: "The trial's constant learning rate",
                    tags.TRIAL_TIE: "Held-out losses this close (a fraction of the start's) tie in the last comparison",
                    tags.TRIAL_SWEEP_ID: "The id of the sweep whose rate the trial verifies",
                    tags.TRIAL_TRAINING_STEPS: "Optimizer steps of the training whose share verification took"}
    metadata = {tag: scalar_metadata.create_summary_metadata(display_name="", description=text).SerializeToString()
                for tag, text in descriptions.items()}

    def writer_of(i: int, rate: float):
        writer = ScalarEventWriter(os.path.join(base, f"trial_{i}_{rate:.3g}"), metadata=metadata)
        at_start = {tags.TRIAL_LOSS: initial_loss, tags.TRIAL_RATE: rate, **({tags.TRIAL_TIE: tie} if tie else {}),
                    **({tags.TRIAL_SWEEP_ID: float(sweep_id)} if sweep_id is not None else {}),
                    **({tags.TRIAL_TRAINING_STEPS: float(training_steps)} if training_steps else {})}
        writer.scalars(0, tuple(at_start), tuple(at_start.values()), time.time())
        return writer

    return writer_of


def deciding_first_round(trials) -> int:
    """The first-round steps of the search whose trials decide: the longest
    (a shorter search ran first and ended on a plateau)."""
    return max(t.first_round_steps for t in trials)


def conclude(trials: tuple[Trial, ...], initial_loss: float, rate: float, *, tie: float = 0.0) -> Verification:
    """The verification the trials make. The search with the longest first
    rounds decides (an earlier, shorter one ended on a plateau; its trials
    count in the cost): its eligible trials are those below the lowest rate
    that diverged; among the eligible that took part in the most rounds, the
    winner is the lowest rate whose held-out loss is within `tie` (a fraction
    of the start's; 0: the lowest loss wins; `FINAL_TIE` with `train_steps`)
    of the lowest of them; where none is eligible, or the lowest did not
    improve on the start (a plateau), `rate` stays, unconfirmed."""
    total = sum(t.steps for t in trials)
    longest, shortest = deciding_first_round(trials), min(t.first_round_steps for t in trials)
    deciding = tuple(t for t in trials if t.first_round_steps == longest)
    before = "" if shortest == longest else (
        f"the trials with first rounds of {shortest} steps ended on a plateau; again with first rounds "
        f"of {longest} steps: ")
    low, high = min(t.learning_rate for t in deciding), max(t.learning_rate for t in deciding)
    ceiling = _lowest_diverged(deciding)
    eligible = [t for t in deciding if t.learning_rate < ceiling and t.losses]
    if not eligible:
        return Verification(rate, trials, total, before + f"every candidate from {low:.3g} to {high:.3g} diverged "
                            f"(held-out loss above the start's {initial_loss:.4g}); the rate {rate:.3g} is "
                            "unconfirmed: lower it", initial_loss, confirmed=False)
    rounds = max(len(t.losses) for t in eligible)
    finalists = [t for t in eligible if len(t.losses) == rounds]
    best = min(finalists, key=lambda t: t.losses[-1])
    within = tie * abs(initial_loss) if math.isfinite(initial_loss) else 0.0
    winner = min((t for t in finalists if t.losses[-1] <= best.losses[-1] + within), key=lambda t: t.learning_rate)
    if not _improved(best.losses[-1], initial_loss):
        return Verification(rate, trials, total, before + f"no candidate from {low:.3g} to {high:.3g} moved the "
                            f"held-out loss below the start's {initial_loss:.4g} by more than {PLATEAU:.0%} in its "
                            f"trials: they cannot tell the rates apart (a plateau); the rate {rate:.3g} is "
                            "unconfirmed", initial_loss, confirmed=False, plateau=True)
    diverged = [f"{t.learning_rate:.3g}" for t in deciding if t.diverged]
    above = [f"{t.learning_rate:.3g}" for t in deciding if not t.diverged and t.learning_rate >= ceiling]
    message = before + (
        f"{len(deciding)} candidates from {low:.3g} to {high:.3g} trained from the model's start; "
        + (f"{winner.learning_rate:.3g} had the lowest held-out loss ({winner.losses[-1]:.4g} after {winner.steps} steps)"
           if winner is best else
           f"{best.learning_rate:.3g} had the lowest held-out loss ({best.losses[-1]:.4g} after {best.steps} steps) "
           f"and {winner.learning_rate:.3g} was within {tie:.0%} of the start's loss of it ({winner.losses[-1]:.4g}): "
           "a tie, the lower rate wins")
        + (f"; diverged: {', '.join(diverged)}" if diverged else "")
        + (f"; not trusted above a diverged rate: {', '.join(above)}" if above else "")
        + f"; {total} optimizer steps in all"
    )
    return Verification(winner.learning_rate, trials, total, message, initial_loss)


def _lowest_diverged(trials) -> float:
    """The lowest rate of a diverged trial (inf if none): no rate at or above it is trusted."""
    return min((t.learning_rate for t in trials if t.diverged), default=math.inf)


def diverged_trial(loss: float, initial_loss: float) -> bool:
    """Non-finite, or worse than the model before training (by more than `PLATEAU` of its size)."""
    margin = PLATEAU * abs(initial_loss)
    return not math.isfinite(loss) or (math.isfinite(initial_loss) and loss > initial_loss + margin)


def _improved(loss: float, initial_loss: float) -> bool:
    """Better than the model before training (by more than `PLATEAU` of its size)."""
    margin = PLATEAU * abs(initial_loss)
    return math.isfinite(loss) and (not math.isfinite(initial_loss) or loss < initial_loss - margin)


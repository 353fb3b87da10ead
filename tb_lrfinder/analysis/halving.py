"""Verification's search: which candidate rates, how long each trains, within what budget.

Candidates are constant rates spread evenly in log(rate) around a sweep's rate (`candidate_rates`,
`search_for`), each trained from the model's start; successive halving keeps the better half by
held-out loss after each round, each round twice as long as the one before, until one is left.
Where every candidate diverges in its first round, windows just below are tried
(`LOWER_WINDOWS`); where asked (`windows_above_for`) and the highest rate did best, windows just
above (`UPPER_WINDOWS`). A budget in optimizer steps sizes the rounds (`first_round_for_budget`,
`trial_budget`), and a last pair reached early (the others diverged) trains on while another round
fits it; `train_steps` instead makes the last pair train exactly that long (`first_round_for`).

The policy drives any `Trainer` (the Keras one is `tb_lrfinder.training.trials`)."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from tb_lrfinder.analysis.types import NEVER_DIVERGED
from tb_lrfinder.analysis.verdicts import diverged_trial, improved

LOWER_WINDOWS = 2
"""Where every candidate diverges in its first round, up to this many windows
of as many candidates, each just below the last, are tried in turn."""


UPPER_WINDOWS = 2
"""For a rate read from a sweep that never diverged: where no candidate diverged
in the first round and the highest rate did best (or none improved on the
start), up to this many windows of as many candidates, each just above the
last, get their first round in turn (see `windows_above_for`); the better
half of a window's size then goes on."""


MIN_FIRST_ROUND = 10
"""The shortest first round (optimizer steps) a budget is raised to give the trials (`trial_budget`):
shorter, a round ranks the noise of a few batches."""


ONE_TRAINING_FROM = 1000
"""Trainings of at least this many optimizer steps that a `verify_budget` share cannot hold (with the
sweep and trials of `MIN_FIRST_ROUND`-step first rounds) are verified within one training's steps,
sweep included, instead of judging the last pair at the training's whole length: on the quality
benchmark's mid-length trainings (1,000-1,504 steps) that lost 3.74 points on average (worst 61.52)
against 3.34 (61.52) at a third of the cost; on shorter ones trials this short lost far more
(`bench/quality/DECISIONS.md`, sessions 21 and 24)."""


PLATEAU_LENGTHENING = 4
"""Where the trials end on a plateau, the search runs once more with first
rounds this many times as long (two of successive halving's doublings)."""


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


def trial_budget(share: float, *, training_steps: int, swept_steps: int, candidates: int) -> int | None:
    """The optimizer steps left to the trials where sweep and trials together may take `share` of a
    training of `training_steps` steps, or None where that would leave them first rounds shorter
    than `MIN_FIRST_ROUND` steps:

        ceil(share * training_steps) - swept_steps,  if >= halving_cost(candidates) * MIN_FIRST_ROUND

    (shorter trials rank rates by what the first few batches do: on the quality benchmark's short
    trainings, trials cut to fit one training lost 10.08 points against 2.31 judged at the
    training's length; `bench/quality/DECISIONS.md`, session 21).

    >>> trial_budget(0.1, training_steps=3000, swept_steps=100, candidates=5)  # a tenth
    200
    >>> trial_budget(0.1, training_steps=600, swept_steps=100, candidates=5) is None  # a tenth is too short
    True
    """
    budget = math.ceil(share * training_steps) - swept_steps
    return budget if budget >= halving_cost(candidates) * MIN_FIRST_ROUND else None


def one_training_budget(*, training_steps: int, swept_steps: int, candidates: int) -> int | None:
    """Where a share of the training cannot hold the sweep and trials: the optimizer steps left to the
    trials within one whole training (`trial_budget` at share 1) for a training of `ONE_TRAINING_FROM`
    steps or more, else None (the last pair is then judged at the training's length).

    >>> one_training_budget(training_steps=1200, swept_steps=100, candidates=5)
    1100
    >>> one_training_budget(training_steps=900, swept_steps=100, candidates=5) is None
    True
    """
    if training_steps < ONE_TRAINING_FROM:
        return None
    return trial_budget(1.0, training_steps=training_steps, swept_steps=swept_steps, candidates=candidates)


def shortest_training_for(share: float, *, swept_steps: int, candidates: int) -> int:
    """The shortest training whose `share` holds a sweep of `swept_steps` and trials (`trial_budget`).

    >>> shortest_training_for(0.1, swept_steps=100, candidates=5)  # (100 + 19 x 10) / 0.1
    2900
    """
    return math.ceil((swept_steps + halving_cost(candidates) * MIN_FIRST_ROUND) / share)


def first_round_for_budget(budget: int, candidates: int) -> int:
    """The longest first round (optimizer steps) whose whole halving fits `budget`: budget // halving_cost."""
    return max(1, budget // halving_cost(candidates))


class Trainer(Protocol):
    """What `successive_halving` drives: candidates by index, in the order added."""

    rates: list[float]  # each candidate's constant rate
    losses: list[list[float]]  # each one's held-out loss after each round it trained
    steps: list[int]  # the optimizer steps each one has trained

    def add(self, window, first_round_steps: int) -> list[int]:
        """New candidates at the rates of `window`, at the model's start; their indices."""

    def train(self, indices: list[int], steps: int) -> None:
        """Train each of `indices` `steps` more batches, then record its held-out loss."""

    def latest(self, i: int) -> float:
        """Candidate `i`'s held-out loss after its last round."""

    def fits(self, indices: list[int], steps: int) -> bool | None:
        """Whether training each of `indices` `steps` more batches stays within the trials' budget
        (None: there is no budget)."""


def successive_halving(trials: Trainer, *, rate: float, candidates: int, spread: float, max_rate: float | None,
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
        if train_steps is None and len(survivors) == 2 and trials.fits(survivors, round_steps * 2):
            # The last pair with budget left for another round: it trains on, each round twice the last.
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


def first_round_for(train_steps: int, candidates: int) -> int:
    """The first round's steps for the last pair to train `train_steps` in all:

        train_steps // (2**R - 1),   R = ceil(log2(candidates)) rounds (at least 1 step)

    (successive halving keeps ceil(n / 2) of n candidates; each round trains
    twice as long as the one before)."""
    rounds = max(1, math.ceil(math.log2(candidates)))
    return max(1, train_steps // (2**rounds - 1))


def _best_at_top(trials: list[int], rates: list[float], losses: dict, initial_loss: float) -> bool:
    """Whether the highest rate among `trials` has the lowest latest held-out
    loss, or none of them improved on the start (see `improved`)."""
    best = min(trials, key=lambda i: losses[i][-1])
    return rates[best] == max(rates[i] for i in trials) or not _any_improved(trials, losses, initial_loss)


def _any_improved(trials: list[int], losses: dict, initial_loss: float) -> bool:
    """Whether any of `trials` has a latest held-out loss below the start's (see `improved`)."""
    return any(improved(losses[i][-1], initial_loss) for i in trials)

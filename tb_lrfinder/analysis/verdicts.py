"""What verification's trials decide: the winner among the candidates that took part in the most
rounds, no rate at or above one that diverged, a plateau confirming nothing (`conclude`)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

PLATEAU = 0.01
"""Held-out losses within this fraction of the starting model's (of its
absolute value) count as the start's: neither a divergence nor progress; and,
with `train_steps`, two finalists' losses this close as a tie."""


FINAL_TIE = float(np.float32(PLATEAU))
"""With `train_steps`, the last comparison's tie (see `conclude`): `PLATEAU`, as
float32, the value the trial runs store (so a read-back concludes the same)."""


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
    if not improved(best.losses[-1], initial_loss):
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


def improved(loss: float, initial_loss: float) -> bool:
    """Better than the model before training (by more than `PLATEAU` of its size)."""
    margin = PLATEAU * abs(initial_loss)
    return math.isfinite(loss) and (not math.isfinite(initial_loss) or loss < initial_loss - margin)

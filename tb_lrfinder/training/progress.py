"""What verification shows while its trials run: a progress bar per trial, or a line per round."""

from __future__ import annotations


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

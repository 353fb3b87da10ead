"""runs.py: a log's run as a range test, as users see it."""

import dataclasses

from eventlog import write_diverging_sweep

from tb_lrfinder.analysis.verdicts import Trial, Verification
from tb_lrfinder.results.runs import analyze_paths


def test_a_result_shows_as_one_line_with_the_rate_and_the_stop(tmp_path):
    write_diverging_sweep(tmp_path / "run")
    (run,), _ = analyze_paths([tmp_path / "run"])
    rec, stop = run.recommended, run.analysis.stop
    trust = "confident" if rec.confident else "not confident"
    assert repr(run) == (
        f"RangeTestResult(name={run.name!r}, points=100, recommended={rec.learning_rate:.3g} "
        f"(range {rec.low:.3g}..{rec.high:.3g}, {trust}), stop=diverged at step {stop.step} "
        f"(rate {stop.learning_rate:.3g}))"
    )
    verified = dataclasses.replace(run, verification=Verification(0.002, (Trial(0.002, (0.5,), 10, None, False),),
                                                                  10, "", 2.0))
    assert ", verified=0.002, stop=" in repr(verified)
    unconfirmed = dataclasses.replace(verified, verification=dataclasses.replace(verified.verification,
                                                                                 confirmed=False))
    assert ", verified=unconfirmed, " in repr(unconfirmed)


def _lightning_log(directory, *, with_train_loss=True):
    """Tags as PyTorch Lightning's LearningRateMonitor and self.log(on_step=True) write them."""
    import numpy as np
    from eventlog import scalar_event, version_event

    from tb_lrfinder.logformat.tfrecord import frame_record

    n = 120
    rates = 1e-5 * (10 / 1e-5) ** (np.arange(n) / n)
    losses = 2.0 - 1.5 / (1 + np.exp(-(np.log10(rates) + 2.5) * 3))
    losses[100:] *= np.exp(np.arange(n - 100))
    records = [version_event()]
    for step in range(n):
        values = {"lr-SGD": rates[step]}
        if with_train_loss:
            values["train_loss_step"] = losses[step]
        if step % 50 == 0:
            values["val_loss"] = 1.0
        records.append(scalar_event(step, values))
    directory.mkdir(parents=True)
    (directory / "events.out.tfevents.1.h").write_bytes(b"".join(frame_record(r) for r in records))


def test_a_training_loss_is_taken_over_a_validation_loss(tmp_path):
    _lightning_log(tmp_path / "run")
    (run,), skipped = analyze_paths([tmp_path / "run"])
    assert not skipped and run.loss_tag == "train_loss_step" and run.lr_tag == "lr-SGD"
    assert run.analysis.stop.reason == "diverged" and run.recommended is not None


def test_only_validation_losses_is_a_skip_that_names_the_loss_tag_option(tmp_path):
    _lightning_log(tmp_path / "run", with_train_loss=False)
    analysed, (skipped,) = analyze_paths([tmp_path / "run"])
    assert not analysed
    assert "only held-out series match ('val_loss')" in skipped.reason and "--loss-tag" in skipped.reason


def test_a_damaged_plan_value_is_ignored_and_said(tmp_path):
    import math

    from tb_lrfinder.logformat import tags
    from tb_lrfinder.sweep.recorder import StepRecorder

    for name, lag in (("huge", 1e30), ("nan", math.nan)):
        with StepRecorder(tmp_path / name, stop_factor=4.0, plan={tags.PLAN_MOMENTUM_LAG: lag}) as recorder:
            for step in range(100):
                rate = 1e-5 * 1.1**step
                if recorder.record(step, rate, 2.0 - 1.5 / (1 + math.exp(-(math.log10(rate) + 2.5) * 3))
                                   + (math.exp(step - 85) if step > 85 else 0.0)):
                    break
        (run,), _ = analyze_paths([tmp_path / name])
        assert run.analysis.momentum_lag == 0.0
        assert any("momentum_lag" in note and "ignored" in note for note in run.analysis.notes)
        assert run.recommended.learning_rate > 10 * run.analysis.swept[0]  # not pushed down to min_lr

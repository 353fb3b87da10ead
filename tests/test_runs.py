"""runs.py: a log's run as a range test, as users see it."""

import dataclasses

from eventlog import write_diverging_sweep

from tb_lrfinder.runs import analyze_paths
from tb_lrfinder.verify import Trial, Verification


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

"""`find_lr`: run a range test on a compiled Keras model, then put it back.

The sweep trains with a *separate* optimizer (a copy of the model's, driven by
`lr_range_schedule`) while `StepLogger` writes every step to TensorBoard. The
model's variables (weights, seed-generator states, metric states) are
snapshotted first and assigned back afterwards, and the model's own optimizer
object, never touched, is put back: weights and optimizer come back bit for
bit, also when the sweep diverged, raised, or was interrupted with Ctrl-C.

The log is then read back and analysed through `tb_lrfinder.results`, so
`find_lr` shows exactly what `tb-lrfinder analyze` would show for that run."""

from __future__ import annotations

import dataclasses
import math
import os
import warnings

import numpy as np

from tb_lrfinder.analysis.curve import combine
from tb_lrfinder.analysis.halving import one_training_budget
from tb_lrfinder.core.errors import LRFinderError
from tb_lrfinder.results.result import RangeTestResult
from tb_lrfinder.results.runs import read_range_test_run
from tb_lrfinder.sweep.plan import accumulation_steps, rate_is_a_step_size, sweep_plan
from tb_lrfinder.sweep.schedules import lr_range_schedule
from tb_lrfinder.training.callback import StepLogger
from tb_lrfinder.training.checks import check_compiled
from tb_lrfinder.training.data import (
    batch_size_used,
    first_array,
    fit_steps,
    is_stream,
    take_rows,
)
from tb_lrfinder.training.log_folders import _default_log_dir, run_folder
from tb_lrfinder.training.model_state import ModelState, optimizer_copy
from tb_lrfinder.training.settings import SweepSettings
from tb_lrfinder.training.trials import check_held_out
from tb_lrfinder.training.verify_step import verified


def _data_order(x, y, order: int, shuffle: bool):
    """(x, y) as given for order 0; array data permuted by seed `order` for the
    others (so repeats see new batches even where `fit`'s shuffle is seeded).
    A stream of batches (a Dataset, PyDataset or generator) is passed as it is: it
    must reshuffle on each iteration."""
    if order == 0 or not shuffle or is_stream(x):
        return x, y
    permutation = np.random.default_rng(order).permutation(int(first_array(x).shape[0]))
    return take_rows(x, permutation), take_rows(y, permutation)


def _check_data(x) -> None:
    """Refuse training data `fit` would fail on with an obscure error (empty containers)."""
    if isinstance(x, (list, tuple, dict)) and len(x) == 0:
        raise LRFinderError(f"x (the training data) is an empty {type(x).__name__}")
    shape = getattr(first_array(x), "shape", None)
    if shape is not None and len(shape) > 0 and shape[0] == 0:
        raise LRFinderError("x (the training data) has no samples")


def find_lr(
    model,
    x=None,
    y=None,
    *,
    batch_size: int | None = None,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    stop_factor: float = 4.0,
    smoothing: float = 0.9,
    log_dir: str | os.PathLike | None = None,
    optimizer=None,
    shuffle: bool = True,
    verbose="auto",
    report: bool = True,
    validation_data=None,
    validation_every: int = 10,
    validation_samples: int = 256,
    repeats: int = 1,
    verify: bool | int | None = None,
    train_steps: int | None = None,
    verify_budget: float | None = 0.1,
    if_exists: str = "new",
) -> RangeTestResult:
    """Run a learning-rate range test on a compiled model and analyse it.

    The rate grows as min_lr * (max_lr/min_lr) ** (step/num_steps) for up to
    `num_steps` optimizer steps; data with fewer batches than that is
    repeated (arrays, Datasets of known size, PyDatasets). The sweep stops
    early at the first NaN/inf loss or once the smoothed loss exceeds
    `stop_factor` times its best. Rate and true batch loss of every step go
    to a TensorBoard run in `log_dir`.

    Afterwards the model's variables and its optimizer are exactly as before.

    Args:
      model: a compiled `keras.Model`.
      x, y: training data as for `model.fit`: arrays, or as `x` a stream of
        batches (a `tf.data.Dataset`, `keras.utils.PyDataset` or generator).
        Data of known size is repeated to fill the sweep.
      batch_size: batch size for array data (Keras's default: 32).
      min_lr, max_lr: the swept range of rates (0 < min_lr < max_lr).
      num_steps: optimizer steps of the full sweep (>= 2).
      stop_factor: divergence threshold on the smoothed loss (> 1).
      smoothing: EMA coefficient beta in [0, 1).
      log_dir: TensorBoard run directory for the sweep; a new one under
        `logs/` by default. Where it already holds a sweep, `if_exists` says
        what happens.
      optimizer: an unbuilt optimizer to sweep with (created in the model's
        strategy scope, if any); by default a copy of the model's own (same
        class and settings, rate replaced by the sweep).
      shuffle: shuffle array data (and a PyDataset's batches), as `fit` does.
      verbose: 0 for silence; otherwise the sweep's progress bar (steps done
        of num_steps, current rate, smoothed true loss, best so far; 2: one
        line at the end) replaces Keras's, whose running-mean loss and epoch
        count do not fit a sweep. With `verify`, the sweep's analysis is
        printed as soon as the sweep ends, then each trial's progress bar
        (its round, rate, held-out loss, the steps spent; 2: one line per
        round).
      report: write the analysis (Markdown table, plot, HParams) into the
        run for TensorBoard's text, image and HParams dashboards.
      validation_data: (x_val, y_val) for the validation overlay: the loss on
        its first `validation_samples` samples every `validation_every` steps
        is logged beside the training loss, and the analysis says where the
        two part ways. Its cost is in `result.validation_cost`.
      repeats: sweeps to run, each on a new data order (shuffled array data
        or a Dataset that reshuffles), each its own run `repeat_<i>` under
        `log_dir`; the recommendation combines them and is not confident
        where they disagree by more than 3x (`result.recommended`).
      verify: confirm the recommended rate by short trainings of 5 (or
        `verify`) candidates from a quarter of it to 4x it, successive
        halving on held-out loss (`validation_data`, else a fifth of the
        array data held out): see `verify_rate`. With FTRL, whose
        sweep cannot show good constant rates, the candidates span
        [min_lr, max_lr] instead, one per decade at least. Each trial is a run
        beside the sweep's; `result.learning_rate` is then the winner's, and
        `result.verification.steps` what the trials cost. False or 0: none.
        None (the default): verify where `train_steps` is given and
        `verify_budget` of it holds the sweep and the trials (trainings of
        about 2,900 steps and more at the default 100-step sweep).
      train_steps: the optimizer steps of the training the rate is for
        (epochs x batches per epoch). Where `verify_budget` of it holds the
        sweep and trials of 10-step first rounds, verification takes at most
        that share; where it cannot, `verify=True` takes at most one
        training's steps for a training of 1,000 steps or more
        (`ONE_TRAINING_FROM`), and for a shorter one judges the last two
        candidates at the training's whole length (about 2.7x its steps);
        the message says which. None: not known; with `verify`, the trials
        take at most one pass over the data (and at least first rounds of
        `MIN_FIRST_ROUND` steps), as the result's message says.
      verify_budget: with `train_steps`, the share of the training's
        optimizer steps the sweep(s) and the trials together may take, in
        (0, 1]: a tenth by default (`trial_budget`); `result.verification.share`
        says what they took. None: no limit; with `train_steps` the last two
        candidates then train exactly that long and the better there wins
        (within 1% of the start's loss, the lower), at about 2.7x
        `train_steps` (3.9x where the first round is a plateau), and without
        it rounds run from a quarter of one pass, doubling.
      if_exists: where `log_dir` already holds a sweep (event files, or the
        `trial_*` / `repeat_*` folders find_lr writes): "new" (the default)
        writes this one to the first free `<log_dir>_<n>`, n = 2, 3, ... (said
        unless verbose is 0; `result.log_dir` is where it went), so that the
        same call can run again; "replace" deletes that sweep (its event files
        and those folders, nothing else) first; "error" raises.

    Returns:
      A `RangeTestResult` (frame, analysis, log_dir).

    Warns:
      UserWarning: the optimizer is `Ftrl`, whose rate is not a step size, so
        a sweep's curve cannot show its good constant rates (`verify` then
        searches the whole swept range).

    Raises:
      LRFinderError: bad arguments, an uncompiled or unbuilt model, an
        unwritable log directory. An error of the model or the data during
        the sweep (and KeyboardInterrupt) is raised as it is. The model and
        its optimizer are restored in every case.

    Example:

    >>> import keras, numpy as np, os, tempfile
    >>> from tb_lrfinder import find_lr
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), loss="mse")
    >>> x = np.random.rand(640, 4); y = x.sum(axis=1, keepdims=True)
    >>> result = find_lr(model, x, y, batch_size=32, min_lr=1e-4, max_lr=1.0,
    ...                  num_steps=20, verbose=0, log_dir=os.path.join(tempfile.mkdtemp(), "sweep"))
    >>> result.frame.columns.tolist()
    ['step', 'learning_rate', 'loss', 'smoothed_loss']
    """
    settings = SweepSettings.of_call(
        verify=verify, verbose=verbose, batch_size=batch_size, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps,
        stop_factor=stop_factor, smoothing=smoothing, shuffle=shuffle, report=report,
        validation_every=validation_every, validation_samples=validation_samples, repeats=repeats,
        train_steps=train_steps, verify_budget=verify_budget, if_exists=if_exists)
    _check_call(model, x, validation_data, optimizer, settings)
    if verify is None and settings.train_steps is not None and not settings.candidates:
        within_one = one_training_budget(training_steps=settings.train_steps,
                                         swept_steps=settings.num_steps * settings.repeats, candidates=5) is not None
        instead = ("checks it within one training's steps" if within_one else
                   "judges the last two candidates at the training's whole length (about 2.7x its steps)")
        warnings.warn(f"train_steps={settings.train_steps}: {settings.verify_budget} of it cannot hold the sweep and "
                      f"trials, so the rate is not verified; verify=True {instead}", UserWarning, stacklevel=2)
    log_dir = run_folder(os.fspath(log_dir) if log_dir is not None else _default_log_dir(), settings.if_exists,
                         say=settings.verbose > 0)
    if settings.repeats == 1:
        result, hparams = _sweep(model, x, y, settings, log_dir, optimizer=optimizer, validation_data=validation_data)
    else:
        result, hparams = _repeated_sweeps(model, x, y, settings, log_dir, validation_data=validation_data)
    try:
        result = verified(result, model, x, y, settings, validation_data, log_dir)
    finally:
        if settings.report:  # the answer's own report, whatever became of its verification
            _write_report_or_warn(result, hparams)
    return result


def _check_call(model, x, validation_data, optimizer, settings: SweepSettings) -> None:
    """What find_lr is given besides its settings, checked before anything runs."""
    if x is None:
        raise LRFinderError("x (the training data) is required")
    _check_data(x)
    if settings.candidates:
        check_held_out(x, validation_data)
    check_compiled(model, "find_lr")
    if not model.built:
        raise LRFinderError(
            "the model has no weights yet (they are created on its first batch), so the sweep could not put "
            "them back: give it an input shape first (keras.Input(...) as its first layer, or model.build(shape))"
        )
    if settings.repeats > 1 and optimizer is not None:
        raise LRFinderError("repeats > 1 needs the model's own optimizer (optimizer=None): "
                            "an optimizer object can drive one sweep only")


def _repeated_sweeps(model, x, y, settings: SweepSettings, root: str, *, validation_data):
    """`settings.repeats` sweeps, each on its own data order in `<root>/repeat_<i>` with its own report,
    as one result whose recommendation combines them; and the hparams of its report."""
    sweeps = []
    for i in range(settings.repeats):
        sweep, hparams = _sweep(model, *_data_order(x, y, i, settings.shuffle), settings,
                                run_folder(os.path.join(root, f"repeat_{i}"), "error"), optimizer=None,
                                validation_data=validation_data)
        if settings.report:
            _write_report_or_warn(sweep, hparams)
        sweeps.append(sweep)
    result = dataclasses.replace(sweeps[0], repeats=tuple(sweeps), name=root, log_dir=root,
                                 combined=combine([sweep.analysis for sweep in sweeps]))
    return result, {"min_lr": settings.min_lr, "max_lr": settings.max_lr, "num_steps": settings.num_steps,
                    "repeats": settings.repeats}


def _sweep_optimizer(model, optimizer, settings: SweepSettings):
    """The optimizer that sweeps: `optimizer` (new, unbuilt) or a copy of the model's, driven by
    the range schedule."""
    accumulation = accumulation_steps(optimizer if optimizer is not None else model.optimizer)
    schedule = lr_range_schedule(settings.min_lr, settings.max_lr, settings.num_steps,
                                 gradient_accumulation_steps=accumulation)
    if optimizer is None:
        # Under tf.distribute, optimizer variables (the step counter the
        # schedule reads) must be created in the model's strategy scope.
        with model.distribute_strategy.scope():
            return optimizer_copy(model.optimizer, schedule)
    if getattr(optimizer, "built", False):
        raise LRFinderError("optimizer must be a new, unbuilt optimizer for the sweep")
    optimizer.learning_rate = schedule
    return optimizer


def _sweep(model, x, y, settings: SweepSettings, log_dir: str, *, optimizer, validation_data):
    """One sweep into the run `log_dir`, the model put back afterwards; (its result, its report's hparams)."""
    sweep_optimizer = _sweep_optimizer(model, optimizer, settings)
    _warn_if_rate_is_not_a_step_size(sweep_optimizer)
    # A loss-scale optimizer's skipped updates do not advance the step: allow
    # extra attempts (the halvings from its initial scale down to 1, and as
    # many again as steps), and end at num_steps applied updates.
    skip_allowance = 0
    if hasattr(sweep_optimizer, "inner_optimizer"):
        skip_allowance = settings.num_steps + math.ceil(math.log2(max(float(sweep_optimizer.initial_scale), 1.0))) + 1
    samples_per_batch = batch_size_used(x, settings.batch_size)
    logger = StepLogger(
        # With steps_per_execution > 1, fit rounds its steps up to whole blocks: max_steps holds it to num_steps.
        log_dir, stop_factor=settings.stop_factor, smoothing=settings.smoothing, max_steps=settings.num_steps,
        validation_data=validation_data, validation_every=settings.validation_every,
        validation_samples=settings.validation_samples, progress=settings.verbose,
        plan=sweep_plan(settings.min_lr, settings.max_lr, settings.num_steps, samples_per_batch, sweep_optimizer),
    )
    # fit counts micro-batches; num_steps counts applied updates. When one
    # pass over the data holds fewer batches than the sweep needs, the data is
    # repeated (fit runs more epochs): a sweep ends by diverging or at
    # num_steps, not because the data ran out.
    attempts = (settings.num_steps + skip_allowance) * accumulation_steps(sweep_optimizer)
    _fit_and_restore(model, sweep_optimizer, logger, lambda: fit_steps(
        model, x, y, attempts, batch_size=settings.batch_size, shuffle=settings.shuffle, callbacks=[logger],
        verbose=0))  # verbose 0: the logger shows the sweep's own progress
    result = dataclasses.replace(
        read_range_test_run(log_dir, smoothing=settings.smoothing, stop_factor=settings.stop_factor,
                            planned_steps=settings.num_steps),
        validation_cost=logger.validation_cost,
    )
    return result, {"min_lr": settings.min_lr, "max_lr": settings.max_lr, "num_steps": settings.num_steps,
                    "batch_size": samples_per_batch if samples_per_batch else "dataset",
                    "optimizer": type(sweep_optimizer).__name__}


def _fit_and_restore(model, sweep_optimizer, logger, fit) -> None:
    """`fit()` with `sweep_optimizer` in the model, which is put back whatever failed, the log's last
    flush included; an exception already on its way (Ctrl-C, an error of the user's model or data)
    stays the one raised."""
    saved = ModelState(model)
    finished = False
    try:
        model.optimizer = sweep_optimizer
        model.train_function = None
        fit()
        finished = True
    finally:
        try:
            logger.detach()
        except Exception as exc:
            flush_error = exc
        else:
            flush_error = None
        finally:
            saved.restore()
        if flush_error is not None:
            if finished:
                raise LRFinderError(
                    f"the sweep ran, but its log could not be written ({flush_error}); "
                    "the model and its optimizer were restored"
                ) from flush_error
            warnings.warn(f"the sweep's log could not be written either: {flush_error}", RuntimeWarning, stacklevel=4)


def _write_report_or_warn(result: RangeTestResult, hparams: dict) -> None:
    """`report.write_report`; a failure (a full disk, say) is only warned about: the result, and any error
    already on its way, matter more than the report, which `analyze` can write again later."""
    from tb_lrfinder.reporting.writeback import write_report

    try:
        write_report(result, hparams=hparams)
    except Exception as error:  # noqa: BLE001 - whatever failed, the result is not lost over it
        warnings.warn(f"{error}; the sweep itself is logged in {result.log_dir} and its result is returned "
                      "(find_lr(..., report=False) skips the report; `tb-lrfinder analyze --write-back` can add "
                      "it later)", RuntimeWarning, stacklevel=3)


def _warn_if_rate_is_not_a_step_size(optimizer) -> None:
    """Warn where a range test cannot show good rates: FTRL (see the warning)."""
    if not rate_is_a_step_size(optimizer):
        warnings.warn(
            "Ftrl's learning_rate is not a step size: each step sets the weights to the rate times what its "
            "accumulators hold, so a rate that grows during the sweep rescales every weight at once, and the "
            "sweep's first, tiny rates leave a huge term in its accumulator: the curve does not show where "
            "constant rates train well. Compare constant rates instead: verify=True tries one per decade of "
            "[min_lr, max_lr], or tb_lrfinder.verify_rate(model, x, y, learning_rate=<a guess>, "
            "spread=<how far either side>).",
            UserWarning, stacklevel=3,
        )



"""`find_lr`: run a range test on a compiled Keras model, then put it back;
`RangeTestCallback`: run one at chosen epochs of a training.

The sweep trains with a *separate* optimizer (a copy of the model's, driven by
`lr_range_schedule`) while `StepLogger` writes every step to TensorBoard. The
model's variables (weights, seed-generator states, metric states) are
snapshotted first and assigned back afterwards, and the model's own optimizer
object, never touched, is put back: weights and optimizer come back bit for
bit, also when the sweep diverged, raised, or was interrupted with Ctrl-C.

The log is then read back and analysed through `runs`, so
`find_lr` shows exactly what `scripts/analyze.py` would show for that run.
"""

from __future__ import annotations

import dataclasses
import math
import os
import shutil
import time
import warnings
from collections.abc import Iterable

import keras
import numpy as np

from . import analysis as analysis_module
from . import runs
from ._data import batch_size_used, batches_available, first_array, fit_steps, is_stream, take_rows
from ._validation import check_compiled, check_tensorflow_backend, int_at_least, positive_float, rate_range
from .callback import StepLogger
from .errors import LRFinderError
from .model_state import ModelState, optimizer_copy
from .plan import accumulation_steps, rate_is_a_step_size, sweep_plan
from .runs import RangeTestResult
from .schedules import lr_range_schedule
from .verify import MIN_FIRST_ROUND, check_held_out, halving_cost, search_for, trial_budget, verify_rate


def _default_log_dir() -> str:
    return os.path.join("logs", time.strftime("range_test-%Y%m%d-%H%M%S"))


IF_EXISTS = ("new", "replace", "error")
"""What `find_lr` does where its log_dir already holds a sweep (see its `if_exists`)."""

_SWEEP_FOLDERS = ("trial_", "repeat_")
"""Folders find_lr writes inside a sweep's log_dir: verification trials, repeated sweeps."""


def _sweep_parts(log_dir: str) -> list[str]:
    """What a sweep wrote directly in `log_dir`: its event files and its trial_* / repeat_* folders."""
    try:
        names = os.listdir(log_dir)
    except OSError:  # missing (or not a folder: then creating the run fails with a clear error)
        return []
    return [os.path.join(log_dir, name) for name in sorted(names)
            if "tfevents" in name or (name.startswith(_SWEEP_FOLDERS) and os.path.isdir(os.path.join(log_dir, name)))]


def run_folder(log_dir: str, if_exists: str, *, say: bool = False) -> str:
    """The folder a sweep asked to go to `log_dir` writes to (see `find_lr`'s `if_exists`)."""
    earlier = _sweep_parts(log_dir)
    if not earlier:
        return log_dir
    if if_exists == "error":
        raise LRFinderError(f"log_dir {log_dir!r} already holds a sweep; give a new directory, or "
                            "if_exists='new' or 'replace'")
    if if_exists == "replace":
        for path in earlier:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        return log_dir
    n = 2
    while _sweep_parts(f"{log_dir}_{n}"):
        n += 1
    if say:
        print(f"{log_dir} holds an earlier sweep: this one goes to {log_dir}_{n} (if_exists='replace' replaces it)")
    return f"{log_dir}_{n}"


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


def _check_resolution(min_lr: float, max_lr: float, num_steps: int) -> None:
    """The sweep's rates must be float32 numbers that grow from step to step."""
    tiny, huge = float(np.finfo(np.float32).tiny), float(np.finfo(np.float32).max)
    if min_lr < tiny or max_lr > huge:
        raise LRFinderError(
            f"min_lr and max_lr must lie within float32's normal range [{tiny:.3g}, {huge:.3g}] "
            f"(the optimizer's rate is float32), got min_lr={min_lr!r}, max_lr={max_lr!r}"
        )
    growth = (max_lr / min_lr) ** (1.0 / num_steps)
    if growth - 1.0 < 4 * float(np.finfo(np.float32).eps):
        raise LRFinderError(
            f"num_steps={num_steps} is too many for the range {min_lr:g} to {max_lr:g}: the rate would grow by "
            f"{growth - 1:.2g} a step, below float32's resolution, so steps would share a rate; use fewer steps"
        )


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
    verify: bool | int = False,
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
        array data held out): see `verify.verify_rate`. With FTRL, whose
        sweep cannot show good constant rates, the candidates span
        [min_lr, max_lr] instead, one per decade at least. Each trial is a run
        beside the sweep's; `result.learning_rate` is then the winner's, and
        `result.verification.steps` what the trials cost. False or 0: none.
      train_steps: with `verify`, the optimizer steps of the training the
        rate is for (epochs x batches per epoch): verification's budget is a
        share of it (`verify_budget`). None: not known; the trials then take
        at most one pass over the data (and at least first rounds of
        `verify.MIN_FIRST_ROUND` steps), as the result's message says.
      verify_budget: with `verify` and `train_steps`, the share of the
        training's optimizer steps the sweep(s) and the trials together may
        take, in (0, 1]: a tenth by default, raised where that would leave the
        trials first rounds shorter than 10 steps, never past one training
        (`verify.trial_budget`); `result.verification.share` says what they
        took. None: no limit; with `train_steps` the last two candidates then
        train exactly that long and the better there wins (within 1% of the
        start's loss, the lower), at about 2.7x `train_steps` (3.9x where the
        first round is a plateau), and without it rounds run from a quarter of
        one pass, doubling.
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
    min_lr, max_lr = rate_range(min_lr, max_lr)
    if if_exists not in IF_EXISTS:
        raise LRFinderError(f"if_exists must be one of {', '.join(map(repr, IF_EXISTS))}, got {if_exists!r}")
    num_steps = int_at_least("num_steps", num_steps, 2)
    repeats = int_at_least("repeats", repeats, 1)
    verify = _verify_candidates(verify, x, validation_data)
    if train_steps is not None:
        train_steps = int_at_least("train_steps", train_steps, 1)
        if not verify:
            raise LRFinderError("train_steps is the length of the training whose share verification may take: it needs verify=True")
    if verify_budget is not None:
        verify_budget = positive_float("verify_budget", verify_budget)
        if verify_budget > 1:
            raise LRFinderError(f"verify_budget is the share of the training (train_steps) that the sweep and the "
                                f"trials may take, in (0, 1], got {verify_budget!r} (for a number of steps, "
                                "call verify_rate(..., budget=steps))")
    if repeats > 1:
        root = run_folder(os.fspath(log_dir) if log_dir is not None else _default_log_dir(), if_exists,
                          say=verbose not in (0, False))
        options = dict(batch_size=batch_size, min_lr=min_lr, max_lr=max_lr, num_steps=num_steps,
                       stop_factor=stop_factor, smoothing=smoothing, optimizer=optimizer, shuffle=shuffle,
                       verbose=verbose, report=report, validation_data=validation_data,
                       validation_every=validation_every, validation_samples=validation_samples)
        if optimizer is not None:
            raise LRFinderError("repeats > 1 needs the model's own optimizer (optimizer=None): "
                                "an optimizer object can drive one sweep only")
        sweeps = tuple(find_lr(model, *_data_order(x, y, i, shuffle), log_dir=os.path.join(root, f"repeat_{i}"),
                               if_exists="error", **options) for i in range(repeats))
        first = sweeps[0]
        result = dataclasses.replace(first, repeats=sweeps, name=root, log_dir=root,
                                     combined=analysis_module.combine([r.analysis for r in sweeps]))
        hparams = {"min_lr": min_lr, "max_lr": max_lr, "num_steps": num_steps, "repeats": repeats}
        try:
            result = _verified(result, model, x, y, verify, batch_size, validation_data, shuffle, root, train_steps,
                               swept=(min_lr, max_lr), verbose=verbose, budget=verify_budget)
        finally:
            if report:  # the combined answer's own report, in <root> beside its sweeps' runs
                _write_report_or_warn(result, hparams)
        return result
    stop_factor = positive_float("stop_factor", stop_factor)
    if batch_size is not None:
        batch_size = int_at_least("batch_size", batch_size, 1)
    _check_resolution(min_lr, max_lr, num_steps)
    if x is None:
        raise LRFinderError("x (the training data) is required")
    _check_data(x)
    check_compiled(model, "find_lr")
    if not model.built:
        raise LRFinderError(
            "the model has no weights yet (they are created on its first batch), so the sweep could not put "
            "them back: give it an input shape first (keras.Input(...) as its first layer, or model.build(shape))"
        )
    log_dir = run_folder(os.fspath(log_dir) if log_dir is not None else _default_log_dir(), if_exists,
                         say=verbose not in (0, False))

    accumulation = accumulation_steps(optimizer if optimizer is not None else model.optimizer)
    schedule = lr_range_schedule(min_lr, max_lr, num_steps, gradient_accumulation_steps=accumulation)
    if optimizer is None:
        # Under tf.distribute, optimizer variables (the step counter the
        # schedule reads) must be created in the model's strategy scope.
        with model.distribute_strategy.scope():
            sweep_optimizer = optimizer_copy(model.optimizer, schedule)
    else:
        sweep_optimizer = optimizer
        if getattr(optimizer, "built", False):
            raise LRFinderError("optimizer must be a new, unbuilt optimizer for the sweep")
        optimizer.learning_rate = schedule
    _warn_if_rate_is_not_a_step_size(sweep_optimizer)
    # A loss-scale optimizer's skipped updates do not advance the step: allow
    # extra attempts (the halvings from its initial scale down to 1, and as
    # many again as steps), and end at num_steps applied updates.
    loss_scaled = hasattr(sweep_optimizer, "inner_optimizer")
    skip_allowance = 0
    if loss_scaled:
        skip_allowance = num_steps + math.ceil(math.log2(max(float(sweep_optimizer.initial_scale), 1.0))) + 1
    samples_per_batch = batch_size_used(x, batch_size)
    plan = sweep_plan(min_lr, max_lr, num_steps, samples_per_batch, sweep_optimizer)
    logger = StepLogger(
        # With steps_per_execution > 1, fit rounds its steps up to whole blocks.
        log_dir, stop_factor=stop_factor, smoothing=smoothing, max_steps=num_steps, validation_data=validation_data,
        validation_every=validation_every, validation_samples=validation_samples, plan=plan,
        progress=0 if verbose in (0, False) else (2 if verbose == 2 else 1),
    )

    # fit counts micro-batches; num_steps counts applied updates. When one
    # pass over the data holds fewer batches than the sweep needs, the data is
    # repeated (fit runs more epochs): a sweep ends by diverging or at
    # num_steps, not because the data ran out.
    attempts = (num_steps + skip_allowance) * accumulation

    saved = ModelState(model)
    finished = False
    try:
        model.optimizer = sweep_optimizer
        model.train_function = None
        # verbose 0: the logger shows the sweep's own progress.
        fit_steps(model, x, y, attempts, batch_size=batch_size, shuffle=shuffle, callbacks=[logger], verbose=0)
        finished = True
    finally:
        # The model is put back whatever failed, the log's last flush
        # included; an exception already on its way (Ctrl-C, an error of the
        # user's model or data) stays the one raised.
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
            warnings.warn(f"the sweep's log could not be written either: {flush_error}", RuntimeWarning, stacklevel=2)

    result = dataclasses.replace(
        runs.read_range_test_run(log_dir, smoothing=smoothing, stop_factor=stop_factor, planned_steps=num_steps),
        validation_cost=logger.validation_cost,
    )
    hparams = {
        "min_lr": min_lr,
        "max_lr": max_lr,
        "num_steps": num_steps,
        "batch_size": samples_per_batch if samples_per_batch else "dataset",
        "optimizer": type(sweep_optimizer).__name__,
    }
    try:
        result = _verified(result, model, x, y, verify, batch_size, validation_data, shuffle, log_dir, train_steps,
                           swept=(min_lr, max_lr), verbose=verbose, budget=verify_budget)
    finally:
        if report:  # the sweep's own report, whatever became of its verification
            _write_report_or_warn(result, hparams)
    return result


def _write_report_or_warn(result: RangeTestResult, hparams: dict) -> None:
    """`report.write_report`; a failure (a full disk, say) is only warned about: the result, and any error
    already on its way, matter more than the report, which `analyze` can write again later."""
    from .report import write_report

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


def _verify_candidates(verify, x, validation_data) -> int:
    """Candidates `verify` asks for (0: no verification), checked before any sweep runs."""
    if not verify:  # False, None or 0
        return 0
    candidates = 5 if verify is True else int_at_least("verify", verify, 2)
    check_held_out(x, validation_data)
    return candidates


def _verified(result: RangeTestResult, model, x, y, verify, batch_size, validation_data, shuffle, log_dir,
              train_steps, *, swept: tuple[float, float], verbose=0, budget: int | None = None):
    """`result` with the verification of its rate, where `verify` asks for one and there is
    something to search (`search_for`: around the rate, or over `swept` where the rate is not a
    step size)."""
    if not verify:
        return result
    planned_steps = train_steps
    rate = None if result.recommended is None else result.recommended.learning_rate
    search = search_for(rate, result.analysis.stop.reason, candidates=verify, swept=swept,
                        rate_is_step_size=rate_is_a_step_size(model.optimizer))
    if search is None:
        notes = "; ".join(result.analysis.notes)
        warnings.warn(f"verify: nothing was verified, as the sweep gave no rate to verify "
                      f"({notes or result.analysis.stop.message})", UserWarning, stacklevel=3)
        return result
    swept_steps = sum(len(sweep.curve["step"]) for sweep in (result.repeats or (result,)))
    assumed = ""
    if budget is not None and train_steps is not None:
        share, budget = budget, trial_budget(budget, training_steps=train_steps, swept_steps=swept_steps,
                                             candidates=search["candidates"])
        if budget < search["candidates"]:
            warnings.warn(f"verify: nothing was verified, as the sweep's {swept_steps} optimizer steps alone "
                          f"took {swept_steps / train_steps:.0%} of the training's {train_steps}: verify_budget "
                          f"({share:g}) leaves no trials", UserWarning, stacklevel=3)
            return result
        train_steps = None  # the budget sizes the rounds
    elif budget is not None:
        per_pass = batches_available(x, batch_size)
        floor = halving_cost(search["candidates"]) * MIN_FIRST_ROUND
        accumulation = accumulation_steps(model.optimizer)
        budget = max(floor, -(-per_pass // accumulation) if per_pass else 2 * floor)
        assumed = (f"the training's length was not given (train_steps), so the trials took at most "
                   + (f"one pass over the data ({budget} optimizer steps)" if per_pass and budget > floor else
                      f"{budget} optimizer steps (first rounds of {MIN_FIRST_ROUND})"))
    try:
        shown = 0 if verbose in (0, False) else (2 if verbose == 2 else 1)
        if shown:  # the sweep's answer now, not after the trials
            from .report import format_result

            print(format_result(result), flush=True)
            print(f"verifying: {search['candidates']} candidate rates trained from the model's start, "
                  "judged on held-out loss", flush=True)
        verification = verify_rate(model, x, y, **search, batch_size=batch_size, validation_data=validation_data,
                                   shuffle=shuffle, log_dir=log_dir, train_steps=train_steps,
                                   sweep_id=result.sweep_id, verbose=shown, budget=budget,
                                   training_steps=planned_steps)
    except LRFinderError as error:
        raise LRFinderError(f"verification failed, {error} (the sweep itself is logged in {log_dir})") from error
    verification = dataclasses.replace(verification, sweep_steps=swept_steps, message=verification.message + (
        f"; {assumed}" if assumed else ""))
    return dataclasses.replace(result, verification=verification)


class RangeTestCallback(keras.callbacks.Callback):
    """Runs a range test at the start of the given epochs (0-based).

    The good rate moves as training proceeds; this callback shows how. At the
    start of each chosen epoch it runs `find_lr` on the model being trained
    (which puts weights and optimizer back exactly), logging each sweep as its
    own TensorBoard run `<log_root>/epoch_<n>`.

    Args:
      x, y: the sweep's data, as for `find_lr` (a small fixed subset is plenty).
      epochs: epochs at whose start a sweep runs.
      log_root: each sweep goes to `<log_root>/epoch_<n>`.
      **find_lr_kwargs: passed to `find_lr` (min_lr, max_lr, num_steps,
        batch_size, ...). `shuffle` defaults to False, so the sweep draws no
        random numbers and the training goes on exactly as without it.

    Attributes:
      results: {epoch: RangeTestResult}, filled as training proceeds.

    Example:

    >>> import keras, numpy as np, tempfile
    >>> from tb_lrfinder import RangeTestCallback
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.01), "mse")
    >>> x = np.random.rand(256, 4); y = x.sum(axis=1, keepdims=True)
    >>> sweeps = RangeTestCallback(x, y, epochs=[0, 2], log_root=tempfile.mkdtemp(),
    ...                            num_steps=8, batch_size=32, verbose=0)
    >>> _ = model.fit(x, y, epochs=3, verbose=0, callbacks=[sweeps])
    >>> sorted(sweeps.results)
    [0, 2]
    """

    def __init__(self, x, y=None, *, epochs: Iterable[int], log_root: str | os.PathLike, **find_lr_kwargs):
        super().__init__()
        check_tensorflow_backend("RangeTestCallback")
        self.x, self.y = x, y
        self.epochs = sorted({int_at_least("epochs", e, 0) for e in epochs})
        if not self.epochs:
            raise LRFinderError("epochs must name at least one epoch")
        if "log_dir" in find_lr_kwargs:
            raise LRFinderError("give log_root, not log_dir: each sweep gets its own run under it")
        self.log_root = os.fspath(log_root)
        self.find_lr_kwargs = {"shuffle": False, **find_lr_kwargs}
        self.results: dict = {}

    def on_epoch_begin(self, epoch, logs=None):
        if epoch not in self.epochs:
            return
        stop_training = self.model.stop_training
        self.results[epoch] = find_lr(
            self.model, self.x, self.y, log_dir=os.path.join(self.log_root, f"epoch_{epoch}"), **self.find_lr_kwargs
        )
        self.model.stop_training = stop_training

"""The Keras side on TensorFlow: sweeps inside `model.fit` and verification's trainings.

Owns: `finder` (`find_lr`: validate, sweep, repeat, verify, report), `verify_step` (its
verification step and budget), `settings` (its frozen
`SweepSettings`), `callback` (`StepLogger`, the true per-step loss into TensorBoard),
`range_test_callback` (`RangeTestCallback`), `custom_loop` (`sweep_custom_loop`), `trials`
(`verify_rate`: the trials' training driver), `trial_runs` (their runs) and `progress` (what they show while they run),
`model_state` (snapshot and bit-exact restore), `data` (data as `fit` takes it), `log_folders`,
`checks`, and `_keras_hooks` (the one adapter to private Keras attributes).

May import: every other package of this library, Keras, TensorFlow. Nothing imports it but the
top-level lazy names and the command line.
"""

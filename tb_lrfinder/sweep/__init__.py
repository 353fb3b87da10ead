"""The writing side, on any Keras backend: what drives a sweep and records it.

Owns: `schedules` (`lr_range_schedule`, the growing `ExponentialDecay`, and schedules to train
with: `one_cycle_from`, `cyclical_from`), `plan` (`sweep_plan`: the settings a run records for its
reader) and `recorder` (`StepRecorder`: each step's rate and true loss, the online stop rule, the
run they go to).

May import: `tb_lrfinder.logformat`, `tb_lrfinder.core`, Keras (backend-agnostic), numpy. Never
TensorFlow, never the analysis or the reading side: a JAX or PyTorch loop records a sweep with
this package alone.
"""

"""Reporting: a range test's result shown to a person.

Owns: `text` (plain text, Markdown tables and plain dicts for JSON), `writeback` (the report
written back into a run for TensorBoard's text, image and HParams dashboards), `plot`
(matplotlib figures) and `tensorboard_plugin` (the LR Finder tab).

May import: `tb_lrfinder.results`, `tb_lrfinder.analysis`, `tb_lrfinder.logformat`,
`tb_lrfinder.core`, `tensorboard`, matplotlib (in `plot` only). Never TensorFlow or Keras.
"""

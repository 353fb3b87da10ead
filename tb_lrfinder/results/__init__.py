"""The reading side: a log directory's runs as analysed range tests.

Owns: `result` (`RangeTestResult`, what every reader of a sweep gets; `SkippedRun`), `curves`
(one run's rate and loss columns picked and analysed) and `runs` (every run of a log directory:
repeats combined, verification trials attached; `read_results`).

May import: `tb_lrfinder.analysis`, `tb_lrfinder.logformat`, `tb_lrfinder.core`, numpy (pandas
only where a DataFrame is asked for). Never TensorFlow or Keras.
"""

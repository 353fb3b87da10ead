"""The analysis: what a range-test curve and verification's trials say, as frozen dataclasses.

Owns: `types` (the results: `Analysis`, `Recommendation`, `StopPoint`, `Suggestion`, ...),
`stops` (where and why a sweep ended), `rules` (the suggestion rules and the recommendation),
`curve` (`analyze` one curve, `combine` repeated sweeps), `halving` (verification's search:
candidate rates, successive halving over any trainer, its budget) and `verdicts` (what the trials
decide: `Trial`, `Verification`, `conclude`).

Computation only: nothing here reads files, trains, prints or plots.

May import: `tb_lrfinder.core`, numpy. Never TensorFlow, Keras, or the log format.
"""

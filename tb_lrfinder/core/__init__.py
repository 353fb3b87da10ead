"""The foundation every other package stands on: the library's error, argument checks, and the
formulas that both the writing side (the online stop rule) and the reading side (the analysis)
apply, so that each lives in one place.

Owns: `errors` (`LRFinderError`), `validation` (checks that name the bad argument), `smoothing`
(the debiased EMA and other smoothers), `divergence` (the stop rule `diverged` and its floor),
`momentum` (an optimizer's lag behind the rate).

May import: numpy. Never TensorFlow, Keras, pandas, or another package of this library.
"""

"""A/B experiments between recommendation strategies: the statistics that say which strategy reads better.

`media_demo.experiments.statistics` is pure (numbers in, numbers out): per-variant sums that a
dashboard accumulates as readers are exposed, and the estimates, lifts, sequential intervals,
Bayesian chance to beat control, sample-ratio check and CUPED adjustment computed from them.
"""

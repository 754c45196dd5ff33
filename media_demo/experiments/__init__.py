"""A/B experiments between recommendation strategies: definitions, assignment, metrics and statistics.

`definitions` and `catalogue` read and check the experiments in `data/experiments/`; `assignment`
places a reader by hash; `attributes` defines each experiment's metrics as attribute groups;
`statistics` is pure (per-variant sums in; estimates, lifts, sequential intervals, chance to beat
control, the sample-ratio check and CUPED out); `report` turns outcomes into what editors read.
"""

"""Offline evaluation of the recommendation strategies: simulated readers through the real newsroom, and
off-policy estimates from logged propensities (`python -m media_demo.evaluation.replay`)."""

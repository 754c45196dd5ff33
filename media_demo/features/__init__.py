"""Reader features computed in batch over the exported event log: content affinity, engagement, subscription
propensity (`pipeline.compute_features`), served to the app as the `reader_features` external batch group."""

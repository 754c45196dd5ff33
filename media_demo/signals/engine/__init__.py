"""Floor 1 of `media_demo.signals`: the attribute engine and everything it evaluates with.

SDK definitions are compiled into plans (`plans`) that the engine (`attribute_engine`)
runs on each canonical event (`events`); `aggregations`, `hll`, `coerce` and
`properties` are their parts. `interventions`, `consent` and `identity` are evaluated
alongside. `timestamps` is the app's one ISO-timestamp format. Imports nothing from the floors above.
"""

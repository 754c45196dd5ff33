"""Floor 3 of `media_demo.signals`: what is kept in SQLite.

`database` opens every connection (and owns every pragma), `event_log` holds the good and
bad events, `checkpoints` the engine's state, `registry` the definitions published
through the API. Imports only `engine` and `ingest`.
"""

"""The embedded attribute engine, Signals-style, in floors (lowest first; no Reflex anywhere).

- `engine`: attribute groups compiled into plans and evaluated per event (with
  aggregations and windows, interventions, consent, identity stitching), and the
  canonical event they consume.
- `ingest`: the tracker protocol, Iglu schemas and enrichment: payload in, canonical event out.
- `batch`: batch attribute groups on polars: the log exported to Parquet and aggregated (`compute`), or a
  customer's own table synced from files (`external`).
- `storage`: SQLite (`database`), the event log, checkpoints, the published definitions.
- `remote`: a client for a remote Signals API, in place of the embedded engine.
- `http`: the collector, the Signals-compatible API and the interventions stream, over
  `http.backend.SignalsBackend`, the interface the application implements.

A floor imports only from floors below it (`tests/unit/test_import_floors.py`);
import from the modules themselves: the packages re-export nothing.
"""

"""Floor 5 of `media_demo.signals`: the HTTP routes, over an interface the application implements.

`collector` (the tracker protocol's endpoints and Snowplow-Micro-style inspection),
`signals_api` (`/api/v1/`, for the `snowplow-signals` SDK), `intervention_stream`
(Server-Sent Events), `auth` (the bearer token) and `errors` (the one JSON error shape).
They reach the application only through `backend.SignalsBackend`.
"""

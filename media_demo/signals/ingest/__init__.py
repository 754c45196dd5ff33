"""Floor 2 of `media_demo.signals`: tracker protocol payloads become canonical events.

`protocol` types and limits every parameter, `iglu` validates self-describing JSON,
`referers` classifies referrers, and `enrich` puts it together. Imports only `engine`.
"""

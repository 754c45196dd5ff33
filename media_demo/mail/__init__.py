"""The e-mail channel's domain: subscriptions with double opt-in, the digest, its rendering and its sending.

No Reflex here: `media_demo.services.digests` puts these together for the app and its API.
"""

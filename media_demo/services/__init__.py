"""The app's services: small pieces of the newsroom, each with one job and its own tests.

They sit above `media_demo.signals` and the app's domain modules (articles, recommend,
personalise, tracking, accounts) and below the newsroom that builds and wires them and
the Reflex states and HTTP routes that call them.
"""

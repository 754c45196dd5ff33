"""The Daily Current: a Reflex newspaper, personalised by the Signals-compatible engine in `media_demo.signals`."""

"""Attribute groups computed or synced in batch, outside the per-event engine."""

"""Reflex states: thin, they call the domain modules."""

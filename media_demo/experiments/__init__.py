"""A/B experiments between recommendation strategies: definitions, assignment, and their statistics."""

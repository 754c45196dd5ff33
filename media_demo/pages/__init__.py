"""One module per page; each builds its component from the corpus at compile time."""

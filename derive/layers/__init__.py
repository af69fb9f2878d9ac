"""Layer types: one module each (dense), and the registry that maps a kind to its module."""

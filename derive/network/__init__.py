"""The network spec (spec), its symbols (symbols) and its forward model (model)."""

"""The rule catalogue: activations, losses and identities read from ``rules/*.toml`` (rules)."""

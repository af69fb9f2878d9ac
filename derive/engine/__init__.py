"""The derivation (backward: the chain rule, one cited rule per step), its proof (proof) and its
numbers (values: every formula evaluated in order)."""

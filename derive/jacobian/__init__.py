"""Matrix-by-matrix derivatives as 4-index arrays (tensor), their closed forms (forms), the
contraction to the engine's formula (steps), the naive chain rule (naive), and output (text, render)."""

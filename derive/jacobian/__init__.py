"""Matrix-by-matrix derivatives as 4-index arrays, bottom up: the quantities and the symbolic
forward map (quantities), how entries print (entries), their closed forms (forms), the result and
its layout (render), the array itself (tensor), the contraction to the engine's formula (steps),
the naive chain rule and the activation step (naive), and the whole report (text)."""

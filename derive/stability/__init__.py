"""Vanishing and exploding gradients as products of Jacobians: numeric analysis (analyse, with
dropout's fixed masks and L2), symbolic results (symbolic; dropout and L2 in regularised) and
output (render)."""

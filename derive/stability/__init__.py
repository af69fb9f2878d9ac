"""Vanishing and exploding gradients as products of Jacobians: numeric analysis (analyse),
symbolic results (symbolic) and output (render)."""

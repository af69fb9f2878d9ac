"""The matrix-expression language: nodes and their shapes (expr), printing, finite differences (fd)."""

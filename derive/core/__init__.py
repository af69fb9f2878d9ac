"""The matrix-expression language: names, the nodes (node: the base and Sym; matrix; elementwise),
one evaluator with numpy and SymPy backends (evaluation), printing, finite differences (fd).
``derive.core.expr`` is its public face; core imports nothing from the rest of the package."""

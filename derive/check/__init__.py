"""``derive check``: a proposed formula parsed, shape-checked, valued and diagnosed (checker),
with the numeric comparison (numeric), the mistake search (diagnose) and the result (verdict)."""

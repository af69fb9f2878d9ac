"""``derive check``: a proposed formula parsed, shape-checked, valued and diagnosed (checker), with
the numeric comparison (numeric) and its high-precision second opinion where float64 disagrees
(precise), the layers a generic l is checked at (layers), the mistake search (diagnose) over the
mistake catalogue (mistakes: one entry per code), its edit rules and combinators (edits) and the
shape-free tree they edit (raw), and the result (verdict)."""

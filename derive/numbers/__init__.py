"""Numbers: worked examples (worked), a student's numbers checked (student), gradient checking
(gradcheck), reading numbers (inputs: JSON/TOML, latex: a LaTeX fragment, files: either) and
printing them (render)."""

"""Numbers: worked examples (worked), a student's numbers checked (student), gradient checking
(gradcheck), reading numbers (inputs, latex) and printing them (render)."""

"""LaTeX and Markdown handouts and worksheets (document), their sections (sections), the
checks they show (checks) and the document text (doc)."""

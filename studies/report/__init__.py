"""The report: HTML and PDF from a saved study folder (figures, tables, plain-word findings)."""

"""Findings: the criteria registry that turns a scenario's results into findings, and the streamed judge."""

"""The study file: its sections, parsed and validated once, and resolved into the objects a study runs."""

"""The ``gridstudy`` command line: one module per command."""

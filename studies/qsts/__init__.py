"""Quasi-static time-series (QSTS) engines: pandapower reference and the batched fast engine."""

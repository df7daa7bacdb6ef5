"""The stages of a study after its time series: fluctuation (sub-second windows), N-1 contingencies, sag events, load loss."""

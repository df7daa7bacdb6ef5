"""Many studies: the battery sizing search and parameter sweeps."""

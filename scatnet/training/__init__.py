"""Training: one run from a composed config (run.py), its folder, lock, signals and records, and sweeps."""

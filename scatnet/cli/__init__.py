"""Console entry points: scatnet-train, scatnet-report, scatnet-bench."""

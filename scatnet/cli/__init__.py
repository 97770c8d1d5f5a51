"""Console entry points: scatnet-train, -study, -eval, -inspect, -report, -bench. Each main() starts with
cli.common.start_command (the process's memory settings and quiet upstream warnings); importing sets
nothing."""

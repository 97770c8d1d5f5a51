"""scatnet-study: the whole study as one resumable command (plan.py: which runs; runner.py: running them a few
at a time on every device; status.py: what a person watches; report.py: the study's report)."""

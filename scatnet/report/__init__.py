"""Reports: every run's metrics.json under a folder into tables, figures and one report.html."""

"""Judging: SLA expressions, the metric registry, baselines, the one judge, and the run's
record (summary.json). Decides; never renders."""

"""clinic-outcomes: appointment logs to a DuckDB warehouse of outcome metrics."""

__version__ = "0.1.0"

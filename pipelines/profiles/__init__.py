"""Mapping profiles shipped with the package (one TOML file per export format)."""

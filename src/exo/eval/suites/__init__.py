"""Eval suites shipped with exo: ``basic`` (multi-step tool use over a small fixed dataset)."""

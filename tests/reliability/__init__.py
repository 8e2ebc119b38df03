"""Fault-injection and reliability tests against a local fake provider server."""

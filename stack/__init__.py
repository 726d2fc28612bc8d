"""Runs the three servers together on their embedded defaults (``make run``)."""

"""Test support (being written)."""

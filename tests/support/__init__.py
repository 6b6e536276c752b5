"""Helpers the tests share (placeholder)."""

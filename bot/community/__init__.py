"""Registers its scans, conditions and actions on import."""

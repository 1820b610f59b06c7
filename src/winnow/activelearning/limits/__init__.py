"""Limits backends chosen by URL: ``memory://`` or ``redis://``."""

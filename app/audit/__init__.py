"""Auditor surface (read-only) and the read audit of personal data (UU PDP)."""

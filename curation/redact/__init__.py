"""Redaction: secrets and personal data in documents replaced by typed placeholders as plain text."""

"""Greenhouse Harvest v3 connector (OAuth client credentials, cursor pagination)."""

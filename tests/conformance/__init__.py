"""The connector conformance suite (see conftest.py)."""

"""Lever Data API v1 connector (API key or OAuth with rotating refresh tokens, offset-token pagination).

A Lever *contact* is the person (``Candidate.ref.id``, kind ``contact``); an *opportunity* is one candidacy
(``Application``).  History is written to the contact's most relevant opportunity.
"""

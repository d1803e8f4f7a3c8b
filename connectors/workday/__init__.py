"""Workday Recruiting connector: SOAP web services (WWS), WS-Security or OAuth bearer, defusedxml parsing."""

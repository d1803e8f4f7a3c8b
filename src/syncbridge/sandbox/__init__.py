"""The kit every vendor sandbox (``connectors/<vendor>/sandbox``) is built from.

* :mod:`.server`: serving an ASGI app in a background thread or in the foreground (``serve``);
* :mod:`.store`: the SQLite file: connection, schema from table specs, row builders, transactions,
  seeding a file once;
* :mod:`.limits`: rate limiters (fixed window with optional headers, token bucket);
* :mod:`.faults`: injected faults and the gate (latency, rate limit, faults) in front of a vendor API;
* :mod:`.settings`: runtime settings changed through ``/_sandbox/config`` (checked, typed);
* :mod:`.seed`: deterministic seed data helpers (names, messy e-mails, phones, timestamps, demo people);
* :mod:`.cli`: the ``serve`` command line every sandbox's ``main`` uses;
* :mod:`.plugin`: the plugin methods every kit-built sandbox shares (seed, demo people, server, main);
* :mod:`.body`: request bodies checked against tables of fields (types, required, lengths, ids).

A vendor sandbox keeps only what is its own: the HTTP semantics of its API, the shapes of its records
and its demo fixtures.
"""

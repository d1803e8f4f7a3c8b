"""tinyats: a fourth ATS vendor that lives entirely outside syncbridge (a plugin test).

It proves the plugin design: nothing in syncbridge names it.  Putting ``tests/plugin_vendor`` on
``PYTHONPATH`` makes ``importlib.metadata`` find ``tinyats-0.1.dist-info``, whose ``entry_points.txt``
registers the connector (group ``syncbridge.connectors``) and the sandbox (``syncbridge.sandboxes``).

The API it speaks (invented, JSON over HTTP, under ``/api/v1``):

* **auth**: every request carries the account's API key in the ``X-TinyATS-Key`` header; a missing or
  wrong key is ``401``;
* **pagination**: a list answers ``{"data": [...], "next_cursor": "..."}``; the next page is the same
  request with ``cursor=<next_cursor>``; ``next_cursor`` is ``null`` on the last page.  ``limit`` (1-200)
  sets the page size;
* ``GET /account``: the account's name (the connector's ``check()``);
* ``GET /people`` (``updated_since``, ``updated_until``: ISO 8601, inclusive; ``email``: any of the
  person's addresses, case-insensitive) and ``GET /people/{id}``;
* ``POST /people`` ``{first_name, last_name, emails, phones, tags}``: a new person (``201``);
* ``PATCH /people/{id}`` ``{"fields": {key: value}}``: merges custom field values (``null`` removes one);
* ``POST /people/{id}/tags`` ``{"tags": [...]}``: adds tags (ones already there are ignored);
* ``GET /people/{id}/notes`` and ``POST /people/{id}/notes`` ``{"subject", "body"}``.

A person is ``{"id": int, "first_name", "last_name", "emails": [str], "phones": [str], "tags": [str],
"fields": {str: value}, "created_at", "updated_at"}``; any write to a person (a note too) moves its
``updated_at``.  Errors are ``{"error": code, "message": text}``.
"""

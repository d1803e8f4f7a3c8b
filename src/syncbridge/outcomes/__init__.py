"""Read micro-internship outcomes from files (CSV, JSON, JSONL) into :class:`~syncbridge.model.Outcome`.

The input schema is documented for admins in ``docs/outcomes.md``.  In short:

* CSV files carry one outcome per row under the *canonical flat columns* (:data:`CANONICAL_COLUMNS`),
  or under other headers mapped to them with ``outcomes.columns`` in the YAML configuration.
* JSON files hold an array of objects (JSONL: one object per line); each object uses either the flat
  keys or the nested model shape ``{"outcome_id", "student": {...}, "project": {...}, "evaluation": {...}}``.

A bad row never stops the file: it is *quarantined* with its line number and a one-line reason that
names the column (``rating: 7 is not between 1 and 5``), and the good rows go on.  Only a file that
cannot be used at all (missing, unreadable, not JSON, no header, required columns absent) raises
:class:`OutcomeFileError`.  Reasons never echo an e-mail address.

Modules: :mod:`.settings` (the ``outcomes:`` configuration section and the column schema),
:mod:`.parse` (one row to an :class:`Outcome`, every problem named), :mod:`.readers` (CSV/JSON/JSONL
files to an :class:`OutcomeBatch`, with quarantine).
"""

from syncbridge.outcomes.parse import OutcomeRowError, parse_row
from syncbridge.outcomes.readers import OutcomeBatch, Quarantined, read_outcomes
from syncbridge.outcomes.settings import (
    CANONICAL_COLUMNS,
    REQUIRED_COLUMNS,
    OutcomeFileError,
    OutcomeSourceSettings,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "REQUIRED_COLUMNS",
    "OutcomeBatch",
    "OutcomeFileError",
    "OutcomeRowError",
    "OutcomeSourceSettings",
    "Quarantined",
    "parse_row",
    "read_outcomes",
]

"""``python -m syncbridge.connectors.workday.sandbox serve --db PATH``."""

from syncbridge.connectors.workday.sandbox import main

raise SystemExit(main())

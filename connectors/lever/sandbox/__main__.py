"""``python -m syncbridge.connectors.lever.sandbox serve --db PATH``."""

from syncbridge.connectors.lever.sandbox import main

raise SystemExit(main())

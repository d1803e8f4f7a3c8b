"""``python -m syncbridge.connectors.greenhouse.sandbox serve --db PATH``."""

from syncbridge.connectors.greenhouse.sandbox import main

raise SystemExit(main())

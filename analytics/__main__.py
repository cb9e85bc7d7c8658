"""``python -m analytics`` is the ``shopper-lens`` command."""

from analytics.cli import main

raise SystemExit(main())

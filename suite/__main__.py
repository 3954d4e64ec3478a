"""``python -m suite`` is the same as the ``pairbench`` command."""

from suite.cli import main

raise SystemExit(main())

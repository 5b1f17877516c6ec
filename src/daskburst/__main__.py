"""``python -m daskburst``."""

from daskburst.cli import main

raise SystemExit(main())

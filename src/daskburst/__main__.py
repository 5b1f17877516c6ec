"""``python -m daskburst``."""

from daskburst._entry import main

raise SystemExit(main())

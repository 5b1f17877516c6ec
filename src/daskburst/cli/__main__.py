"""``python -m daskburst.cli``: the same as ``python -m daskburst``."""

from daskburst._entry import main

raise SystemExit(main())

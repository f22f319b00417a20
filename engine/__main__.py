"""``python -m engine vocab|train|generate``: see engine/cli.py."""

from engine.cli import main

raise SystemExit(main())

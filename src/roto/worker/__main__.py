"""Entry point of ``python -m roto.worker``."""

from roto.worker.main import main

raise SystemExit(main())

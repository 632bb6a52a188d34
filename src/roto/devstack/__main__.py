"""``python -m roto.devstack``: the whole service on this machine (see ``stack.py``)."""

from __future__ import annotations

import sys

from roto.devstack.stack import main

if __name__ == "__main__":
    sys.exit(main())

"""moto's server as ``python -m moto.server`` runs it, less one cost per request.

To route a request, moto asks whether its host names one of moto's service packages, and lists
its own package folder from disk to answer (``moto.backends.list_of_moto_modules``: a
``listdir`` and an ``isdir`` for each of some 200 entries), on every request. The folder does not
change while the server runs, so here it is listed once. In a profile of the dev stack's moto
under a loop of clicks this listing was 30 % of moto's CPU, on the two cores the whole stack
shares. Nothing else about moto changes; without that function (another moto) moto runs as is.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable


def listed_once(list_modules: Callable[[], Iterable[str]]) -> Callable[[], tuple[str, ...]]:
    """``list_modules``, called once: its answer is kept and given back on every later call."""
    return functools.cache(lambda: tuple(list_modules()))


def main() -> None:
    import moto.backends as backends
    from moto.server import main as moto_main

    if callable(getattr(backends, "list_of_moto_modules", None)):
        backends.list_of_moto_modules = listed_once(backends.list_of_moto_modules)
    moto_main(sys.argv[1:])


if __name__ == "__main__":
    main()

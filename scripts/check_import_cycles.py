"""Fail on any import cycle among the service's modules (`make lint`, and tests/test_layering.py).

Every import statement counts, including those under ``TYPE_CHECKING`` and inside functions: a
cycle that only type checking or a lazy import hides is still two modules that need each other.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

import grimp

PACKAGES = ("roto", "roto_gpu")


def find_cycles(packages: Iterable[str] = PACKAGES) -> list[list[str]]:
    """The import cycles among the modules of ``packages``: each strongly connected group of
    two or more modules (or a module importing itself), sorted."""
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=False)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    return sorted(_strongly_connected(modules, edges))


def _strongly_connected(modules: list[str], edges: dict[str, list[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a deep import chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in modules:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            targets = edges.get(node, [])
            if position < len(targets):
                work.append((node, position + 1))
                target = targets[position]
                if target not in index:
                    work.append((target, 0))
                elif target in on_stack:
                    low[node] = min(low[node], index[target])
                continue
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1 or node in edges.get(node, []):
                    groups.append(sorted(group))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return groups


def main() -> int:
    cycles = find_cycles()
    for group in cycles:
        print("import cycle: " + " <-> ".join(group), file=sys.stderr)
    print(f"import cycles: {len(cycles)}")
    return 1 if cycles else 0


if __name__ == "__main__":
    raise SystemExit(main())

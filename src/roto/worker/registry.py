"""The worker roles installed in this environment: each distribution registers its roles under
the ``roto.worker.roles`` entry point group (``name = "module:factory"``), so the runtime never
imports a role it does not run, and an image without the GPU daemon simply has no ``gpu`` role."""

from __future__ import annotations

from importlib.metadata import entry_points

from roto.worker.contract import Role

ENTRY_POINT_GROUP = "roto.worker.roles"


def role_names() -> list[str]:
    """The names of the installed roles, sorted."""
    return sorted({entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def build_role(name: str) -> Role:
    """The role called ``name``; ValueError names the installed roles otherwise."""
    found = [entry for entry in entry_points(group=ENTRY_POINT_GROUP) if entry.name == name]
    if not found:
        known = ", ".join(role_names()) or "none"
        raise ValueError(f"unknown worker role {name!r}; installed: {known}")
    factory = found[0].load()
    role = factory()
    if not isinstance(role, Role):
        raise TypeError(f"entry point {found[0].value} returned {type(role).__name__}, not a Role")
    return role

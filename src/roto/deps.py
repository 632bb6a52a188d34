"""Type aliases for the app-level dependencies that handlers declare by name."""

from __future__ import annotations

from typing import TypeAlias

from litestar.di import NamedDependency

from roto.auth.schemas import CurrentUser
from roto.resources import Resources

#: The process's clients (``resources`` parameter).
ResourcesDep: TypeAlias = NamedDependency[Resources]
#: The authenticated caller (``user`` parameter); declaring it makes a handler require auth.
UserDep: TypeAlias = NamedDependency[CurrentUser]

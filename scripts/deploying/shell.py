"""How the deploy runs a command: for real, or in a dry run only printed."""

from __future__ import annotations

import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field

from .constants import REPO


class DeployError(RuntimeError):
    """A step failed; the message says which and what to look at."""


@dataclass
class Shell:
    """Runs commands, or in a dry run prints them and answers with a placeholder."""

    dry_run: bool
    printed: list[str] = field(default_factory=list)

    def show(self, args: Sequence[str], note: str = "") -> None:
        line = "$ " + shlex.join(args) + (f"    # {note}" if note else "")
        self.printed.append(line)
        print(line, flush=True)

    def run(
        self,
        args: Sequence[str],
        *,
        placeholder: str = "",
        note: str = "",
        stdin: str | None = None,
    ) -> str:
        """Run ``args`` and return its stdout (stripped); a dry run returns ``placeholder``."""
        self.show(args, note)
        if self.dry_run:
            return placeholder
        result = subprocess.run(
            list(args), input=stdin, capture_output=True, text=True, cwd=REPO, check=False
        )
        if result.returncode != 0:
            raise DeployError(
                f"{shlex.join(args)} failed ({result.returncode}): {result.stderr.strip()}"
            )
        return result.stdout.strip()

    def attempt(self, args: Sequence[str], *, assume: bool, note: str = "") -> tuple[bool, str]:
        """Whether ``args`` exits 0, and its stdout; a dry run assumes ``assume`` and no output."""
        self.show(args, note)
        if self.dry_run:
            return assume, ""
        result = subprocess.run(list(args), capture_output=True, text=True, cwd=REPO, check=False)
        return result.returncode == 0, result.stdout.strip()

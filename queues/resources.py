"""Where the shipped templates live: in the source tree, or inside the installed wheel."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def templates_dir() -> Path:
    """The `templates/` directory (mail/ and webui/).

    A wheel carries it as `queues/_templates` (pyproject.toml, force-include); a source
    checkout or editable install has it at the top of the repository.
    """
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if (candidate / "mail").is_dir():
            return candidate
    raise FileNotFoundError("Switchboard's templates/ directory is missing from this installation")

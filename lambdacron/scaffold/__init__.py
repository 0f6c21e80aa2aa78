"""``lambdacron init``: copy a small working project (the FINP report) into a folder."""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

from lambdacron.errors import UsageError

RENAMES = {"gitignore": ".gitignore"}


def scaffold(directory: Path, force: bool = False) -> list[Path]:
    """Write the project files; refuse to overwrite existing ones unless ``force``."""
    root = files("lambdacron.scaffold") / "files"
    plan = [(directory / relative, source) for relative, source in _walk(root, Path())]
    existing = [path for path, _ in plan if path.exists()]
    if existing and not force:
        raise UsageError(
            f"{len(existing)} file(s) already exist, e.g. {existing[0]}; nothing was written "
            "(pass --force to overwrite)"
        )
    for path, source in plan:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source.read_bytes())
    return [*(path for path, _ in plan), write_schema(directory)]


def write_schema(directory: Path) -> Path:
    """``.lambdacron/task.schema.json``: rendered task files point editors at it."""
    from lambdacron.build import SCHEMA_FILE
    from lambdacron.schema import json_schema

    path = directory / SCHEMA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")
    return path


def _walk(node: Traversable, relative: Path) -> list[tuple[Path, Traversable]]:
    found: list[tuple[Path, Traversable]] = []
    for child in sorted(node.iterdir(), key=lambda c: c.name):
        if child.name == "__pycache__":
            continue
        target = relative / RENAMES.get(child.name, child.name)
        if child.is_dir():
            found.extend(_walk(child, target))
        else:
            found.append((target, child))
    return found

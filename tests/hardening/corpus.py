"""The bad-input corpus's machinery: a broken project per case, run through the real CLI.

Each case is a project (files by path) and the exact error text a user should read. The runner
builds it in a fresh folder, runs ``validate`` and ``render`` on it and checks what the brief
promises for invalid input: the exit code, every diagnostic line with its file and line, the
count, no traceback, nothing on stdout and not one file written (no ``build/``, no store).
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from typer.testing import CliRunner, Result

from lambdacron.cli import app

# A file's content: text, raw bytes, or a function that makes it (a symlink, say) given the
# file's path and the project root.
Maker = Callable[[Path, Path], None]
Content = str | bytes | Maker

ENV = "vars:\n  batch: {queue: q-dev, definition: 'defs:1'}\n  x: 1\n"
BATCH = "type: batch\njobName: j\njobQueue: q\njobDefinition: d"
HEAD = 'name: t1\nexpression: "0 17 5 * *"\n'

runner = CliRunner()


@dataclass(frozen=True)
class Case:
    """One broken project and the exact stderr it must produce (before the count line).

    ``expected`` holds one diagnostic per line, trace lines indented by two spaces, as the CLI
    prints them. ``summary`` overrides the computed count line (errors found before any env is
    loaded have no "(env dev)"); ``exit_code`` 2 marks a usage error, which has no count line.
    """

    id: str
    files: Mapping[str, Content]
    expected: str
    args: Sequence[str] = ("--env", "dev")
    exit_code: int = 1
    summary: str | None = None
    commands: Sequence[str] = field(default=("validate", "render"))


def task(body: str = BATCH, head: str = HEAD) -> str:
    """A task document: ``head`` (top-level keys) then ``body`` indented under ``task:``."""
    lines = textwrap.dedent(body).strip("\n").split("\n")
    return head + "task:\n" + "".join(f"  {line}\n" for line in lines)


def build_project(root: Path, files: Mapping[str, Content]) -> None:
    """``templates/``, ``envs/dev.yml`` (unless a case replaces it) and the case's files."""
    (root / "templates").mkdir(parents=True, exist_ok=True)
    (root / "envs").mkdir(parents=True, exist_ok=True)
    for relative, content in {"envs/dev.yml": ENV, **files}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content(path, root)


def snapshot(root: Path) -> dict[str, bytes | str]:
    """Every file (its bytes) and symlink (its target) under ``root``, links not followed."""
    found: dict[str, bytes | str] = {}
    for folder, folders, files in os.walk(root):
        for name in folders + files:
            path = Path(folder, name)
            key = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[key] = f"-> {os.readlink(path)}"
            elif path.is_file():
                found[key] = path.read_bytes()
            else:
                found[key] = "dir"
    return found


def summary(expected: str, env: str = "dev") -> str:
    """The count line the CLI prints after ``expected``'s diagnostics."""
    errors = [line for line in expected.splitlines() if not line.startswith("  ")]
    files = {line.split(":", 1)[0] for line in errors}
    noun = "error" if len(errors) == 1 else "errors"
    where = f"{len(files)} file{'' if len(files) == 1 else 's'}"
    return f"{len(errors)} {noun} in {where} (env {env}). Nothing was written."


def invoke(args: Sequence[str]) -> Result:
    return runner.invoke(app, list(args))


def outside(target: str, text: str = "name: leaked\n") -> Maker:
    """A symlink to ``outside/<target>``, a file beyond ``templates/`` holding ``text``."""

    def make(path: Path, root: Path) -> None:
        destination = root / "outside" / target
        destination.parent.mkdir(parents=True, exist_ok=True)
        destination.write_text(text, encoding="utf-8")
        path.symlink_to(destination)

    return make


def outside_folder(template: str = "leak.yml.j2", text: str = "name: leaked\n") -> Maker:
    """A symlinked folder leading to ``outside/``, which holds ``template``."""

    def make(path: Path, root: Path) -> None:
        folder = root / "outside"
        folder.mkdir(exist_ok=True)
        (folder / template).write_text(text, encoding="utf-8")
        path.symlink_to(folder, target_is_directory=True)

    return make


def check(root: Path, case: Case) -> None:
    """Run ``case`` through every command of it and check the promises for invalid input."""
    build_project(root, case.files)
    before = snapshot(root)
    expected = case.expected + "\n"
    if case.exit_code == 1:
        expected += (case.summary or summary(case.expected)) + "\n"
    for command in case.commands:
        result = invoke([command, *case.args, "--project", str(root)])
        # CliRunner turns an uncaught exception into exit code 1 too: only SystemExit is a
        # deliberate exit.
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            f"{command}: uncaught {result.exception!r}"
        )
        assert "Traceback" not in result.output
        assert (result.exit_code, result.stderr) == (case.exit_code, expected), command
        assert result.stdout == ""
        assert snapshot(root) == before, f"{command} wrote files"

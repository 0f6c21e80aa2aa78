"""The ``lambdacron`` command line. Each module registers its commands on ``app``; this module
maps every ``LambdacronError`` to its exit code in one place."""

from __future__ import annotations

import os
import sys

import typer

from lambdacron.cli.common import app, err_console

# Command modules register themselves on import.
from lambdacron.cli import compile as _compile  # noqa: F401,E402
from lambdacron.errors import LambdacronError  # noqa: E402

for _module in ("publish", "runtime", "deploy", "ecosystem"):
    try:
        __import__(f"lambdacron.cli.{_module}")
    except ModuleNotFoundError as _exc:  # a command group not built yet
        if _exc.name != f"lambdacron.cli.{_module}":
            raise

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point: run the app, turn errors into messages and exit codes."""
    try:
        app(standalone_mode=False)
    except LambdacronError as exc:
        err_console.print(str(exc), markup=False, highlight=False)
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print("Aborted. Nothing was written.", markup=False)
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("Interrupted.", markup=False)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if os.environ.get("LAMBDACRON_DEBUG"):
            raise
        err_console.print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in lambdacron; set LAMBDACRON_DEBUG=1 for the traceback and report it.",
            markup=False,
        )
        sys.exit(70)

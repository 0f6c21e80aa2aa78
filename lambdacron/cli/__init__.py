"""The ``lambdacron`` command line. Each module registers its commands on ``app``; errors are
mapped to exit codes in ``lambdacron.cli.common``."""

from __future__ import annotations

import os
import sys

from lambdacron.cli import compile as _compile  # noqa: F401  (registers its commands)
from lambdacron.cli.common import app, err_console

for _module in ("publish", "runtime", "deploy", "ecosystem"):
    try:
        __import__(f"lambdacron.cli.{_module}")
    except ModuleNotFoundError as _exc:  # a command group not built yet
        if _exc.name != f"lambdacron.cli.{_module}":
            raise

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point. Unexpected errors print one line, not a traceback."""
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("Interrupted.", markup=False)
        sys.exit(130)
    except Exception as exc:
        if os.environ.get("LAMBDACRON_DEBUG"):
            raise
        err_console.print(
            f"internal error: {type(exc).__name__}: {exc}\n"
            "This is a bug in lambdacron; set LAMBDACRON_DEBUG=1 for the traceback and report it.",
            markup=False,
        )
        sys.exit(70)

"""Developer sessions: tests, lint, typecheck, bench."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = ["3.11", "3.12", "3.13"]


@nox.session(python=False, name="tests")
def tests(session: nox.Session) -> None:
    """The whole test suite in a fresh virtual environment (what `.ci/run` runs)."""
    session.run("python3", "-m", "venv", ".nox/tests-venv", external=True)
    py = ".nox/tests-venv/bin/python"
    session.run(py, "-m", "pip", "install", "--quiet", "--upgrade", "pip", external=True)
    session.run(py, "-m", "pip", "install", "--quiet", "-e", ".[test]", external=True)
    session.run(py, "-m", "pytest", *session.posargs, external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".[dev]")
    session.run("mypy")


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks of the compiler, cold start, tick and dispatch; writes build/bench.json."""
    session.install("-e", ".[test]", "orjson")
    session.run("python", "-m", "benchmarks", *session.posargs)

"""Deploy stage, package: the Lambda deployment zip.

The zip holds ``lambdacron/__init__.py``, ``lambdacron/runtime/**`` and the pure-Python
distributions the runtime imports (``requests`` and what it requires), copied from the installed
distributions' file lists. boto3 and botocore come with the Lambda Python runtime; the compiler's
libraries (jinja2, typer, cerberus, rich, PyYAML, croniter) never go in.

The zip is reproducible: entries sorted, timestamps fixed at 1980-01-01, permissions fixed, no
``__pycache__`` or compiled files, so the same installed code always gives the same bytes (and the
same S3 key, so an unchanged package never makes CloudFormation update the function).
"""

from __future__ import annotations

import hashlib
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path, PurePosixPath

import lambdacron
from lambdacron.errors import LambdacronError

# The runtime's own third-party imports; their requirements are followed from the metadata.
# tzdata: zoneinfo falls back to it where the Lambda image has no /usr/share/zoneinfo.
RUNTIME_DISTRIBUTIONS = ("requests", "tzdata")
# Never shipped, even if a requirement chain led to them: provided by Lambda, or compiler-only.
EXCLUDED_DISTRIBUTIONS = frozenset(
    {
        "boto3",
        "botocore",
        "s3transfer",
        "jmespath",
        "python-dateutil",
        "six",
        "jinja2",
        "markupsafe",
        "typer",
        "click",
        "cerberus",
        "rich",
        "pyyaml",
        "croniter",
        "lambdacron",
    }
)
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o100644  # a regular file, rw-r--r--
COMPILED_SUFFIXES = (".pyc", ".pyo", ".so", ".pyd", ".dylib")
METADATA_FILES = re.compile(r"^[^/]+\.dist-info/(METADATA|licenses/.+|LICEN[CS]E.*|COPYING.*)$")


class PackageError(LambdacronError):
    """The package cannot be built from this installation."""

    exit_code = 1


@dataclass(frozen=True)
class PackageInfo:
    """A built package: where it is, its size in bytes, sha256 (hex) and the archive names."""

    path: Path
    size: int
    sha256: str
    files: tuple[str, ...]
    distributions: tuple[str, ...]

    @property
    def key_name(self) -> str:
        """A content-addressed file name for the artifacts bucket."""
        return f"lambdacron-{lambdacron.__version__}-{self.sha256[:16]}.zip"


def build_package(out: Path) -> PackageInfo:
    """Write the deployment zip to ``out`` and describe it."""
    entries = dict(_lambdacron_entries())
    distributions = runtime_distributions()
    for dist in distributions:
        entries.update(_distribution_entries(dist))
    names = sorted(entries)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        for name in names:
            info = zipfile.ZipInfo(name, date_time=ZIP_EPOCH)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # unix, so the mode above is honoured
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name].read_bytes(), compresslevel=9)
    data = out.read_bytes()
    return PackageInfo(
        path=out,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        files=tuple(names),
        distributions=tuple(f"{d.metadata['Name']}=={d.version}" for d in distributions),
    )


def _lambdacron_entries() -> Iterator[tuple[str, Path]]:
    root = Path(lambdacron.__file__).resolve().parent
    yield "lambdacron/__init__.py", root / "__init__.py"
    for path in sorted((root / "runtime").rglob("*.py")):
        if "__pycache__" not in path.parts:
            yield "lambdacron/" + path.relative_to(root).as_posix(), path


def runtime_distributions() -> list[metadata.Distribution]:
    """``RUNTIME_DISTRIBUTIONS`` and everything they require (extras left out), sorted by name."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(RUNTIME_DISTRIBUTIONS)
    while pending:
        name = _normal(pending.pop())
        if name in found or name in EXCLUDED_DISTRIBUTIONS:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackageError(
                f"package: the runtime needs the distribution {name!r}, which is not installed; "
                "install lambdacron with its dependencies (pip install lambdacron)"
            ) from None
        found[name] = dist
        pending.extend(_requirements(dist.requires or ()))
    return [found[name] for name in sorted(found)]


def _requirements(requires: Iterable[str]) -> Iterator[str]:
    """Names of the unconditional requirements: extras are optional features the runtime does
    not use."""
    for requirement in requires:
        spec, _, marker = requirement.partition(";")
        if "extra" in marker:
            continue
        match = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", spec)
        if match:
            yield match.group(1)


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _distribution_entries(dist: metadata.Distribution) -> Iterator[tuple[str, Path]]:
    """The distribution's importable files (and its metadata and licence), pure Python only."""
    name = dist.metadata["Name"]
    files = [PurePosixPath(str(f)) for f in dist.files or ()]
    if not files:
        raise PackageError(
            f"package: distribution {name!r} has no file list (RECORD); reinstall it with pip"
        )
    sources = {f.as_posix() for f in files}
    for file in files:
        text = file.as_posix()
        if text.startswith("../") or "__pycache__" in file.parts:
            continue  # scripts outside site-packages, byte code
        if file.parts[0].endswith(".dist-info"):
            if METADATA_FILES.match(text):
                yield text, Path(str(dist.locate_file(file)))
            continue
        if text.endswith(COMPILED_SUFFIXES):
            _require_pure_fallback(name, text, sources)
            continue
        yield text, Path(str(dist.locate_file(file)))


def _require_pure_fallback(dist: str, text: str, sources: set[str]) -> None:
    """A compiled module may be left out only when its pure-Python twin ships beside it (as
    charset_normalizer's mypyc builds do): the zip must run on any Lambda architecture."""
    if text.endswith((".pyc", ".pyo")):
        return
    folder, _, file = text.rpartition("/")
    module = file.split(".", 1)[0]
    if module.endswith("__mypyc"):
        return  # mypyc's shared helper: only the compiled modules use it
    twin = f"{folder}/{module}.py" if folder else f"{module}.py"
    if twin not in sources and f"{folder}/{module}/__init__.py" not in sources:
        raise PackageError(
            f"package: {dist} ships the compiled module {text} without a pure-Python version, so "
            "the zip would not run on Lambda's arm64; install the pure-Python wheel of "
            f"{dist} (pip install --no-binary {dist} {dist})"
        )

"""Stage 1: find the project and load its environments (``extends`` chains, ``--set`` overrides).

Precedence, lowest first: the ``_base`` chain, the env file, then ``--set``. Every problem in the
env files is collected and reported at once with its file and line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lambdacron.errors import Diagnostic, InvalidInputError, UsageError
from lambdacron.runtime.manifest import paused_gc
from lambdacron.suggest import did_you_mean
from lambdacron.yamlio import Document, YamlError, load_one

SETTINGS_FILE = "lambdacron.yml"
PROJECT_KEYS = ("templates", "envs", "build", "store")
ENV_KEYS = ("extends", "store", "region", "account", "defaults", "vars", "deploy")
DEFAULT_KEYS = ("timezone", "retries", "enabled")
DEPLOY_KEYS: dict[str, type | tuple[type, ...]] = {
    "stack_name": str,
    "alarm_email": str,
    "memory_size": int,
    "timeout": int,
    "log_retention_days": int,
    "max_catchup_minutes": int,
    "tags": dict,
    "reserved_concurrency": (int, type(None)),
    "tick_alarm_minutes": int,
    "managed_policy_arns": list,
    "artifacts_bucket": str,
}
RESERVED_VARS = ("env",)
HELPERS = ("required", "fail", "scheduled_time", "task_name", "execution_id", "secret")
ENV_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
REGION = re.compile(r"^[a-z]{2}(?:-gov|-iso[a-z]*)?-[a-z]+-\d$")


@dataclass(frozen=True)
class Project:
    """A lambdacron project: where its templates, envs, build output and local store live."""

    root: Path
    templates: Path
    envs: Path
    build: Path
    store: str

    def relative(self, path: Path) -> str:
        """``path`` as the user sees it: relative to the project root when inside it."""
        try:
            return path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return str(path)

    def env_names(self) -> list[str]:
        """Concrete environments (``_`` files are abstract bases)."""
        if not self.envs.is_dir():
            return []
        names = {
            p.name.rsplit(".", 1)[0] for p in self.envs.iterdir() if p.suffix in (".yml", ".yaml")
        }
        return sorted(n for n in names if not n.startswith("_"))


@dataclass(frozen=True)
class Environment:
    """One environment, fully merged: what templates see and where publishing goes."""

    name: str
    path: Path
    store: str
    region: str | None = None
    account: str | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    vars: Mapping[str, Any] = field(default_factory=dict)
    deploy: Mapping[str, Any] = field(default_factory=dict)

    def template_context(self) -> dict[str, Any]:
        """The names a template sees: every var, plus ``env``."""
        return {
            **self.vars,
            "env": {
                "name": self.name,
                "region": self.region,
                "account": self.account,
                "store": self.store,
            },
        }


def find_project(path: Path | None = None) -> Project:
    """The project at ``path``, or at the current directory or its nearest suitable parent."""
    if path is not None:
        root = path.resolve()
        if not root.is_dir():
            raise UsageError(f"--project {path}: no such folder")
        return _load_settings(root)
    start = Path.cwd().resolve()
    for candidate in (start, *start.parents):
        if (candidate / SETTINGS_FILE).is_file() or (
            (candidate / "templates").is_dir() and (candidate / "envs").is_dir()
        ):
            return _load_settings(candidate)
    raise UsageError(
        f"no lambdacron project in {start} or its parents (a project has templates/ and envs/, "
        "or a lambdacron.yml); run `lambdacron init` to create one, or pass --project DIR"
    )


def _load_settings(root: Path) -> Project:
    settings: dict[str, Any] = {}
    file = root / SETTINGS_FILE
    if file.is_file():
        document = _read(file, SETTINGS_FILE)
        problems = _unknown_keys(document, PROJECT_KEYS, SETTINGS_FILE)
        for key in PROJECT_KEYS:
            value = document.data.get(key)
            if value is not None and not isinstance(value, str):
                problems.append(
                    Diagnostic(
                        SETTINGS_FILE, document.line_of((key,)), f"'{key}' must be a path string"
                    )
                )
        if problems:
            raise InvalidInputError(problems)
        settings = document.data
    store = settings.get("store") or ".lambdacron/store"
    return Project(
        root=root,
        templates=(root / settings.get("templates", "templates")).resolve(),
        envs=(root / settings.get("envs", "envs")).resolve(),
        build=(root / settings.get("build", "build")).resolve(),
        store=_store_url(store, root),
    )


def _store_url(store: str, root: Path) -> str:
    if store.startswith(("s3://", "file://")):
        return store
    return "file://" + str((root / store).resolve())


def load_env(project: Project, name: str, sets: Sequence[str] = ()) -> Environment:
    """Load ``envs/<name>.yml`` with its ``extends`` chain, then apply ``--set`` overrides."""
    if name.startswith("_"):
        raise UsageError(
            f"--env {name}: environments starting with '_' are abstract bases, used only through "
            "`extends`; choose one of: " + (", ".join(project.env_names()) or "(none)")
        )
    if not ENV_NAME.match(name):
        known = project.env_names()
        raise UsageError(
            f"--env {name}: not an environment name (letters, digits, '_' and '-', the name of a "
            f"file envs/NAME.yml); environments: {', '.join(known) or '(none)'}"
        )
    path = _env_path(project, name)
    if path is None:
        known = project.env_names()
        hint = did_you_mean(name, known)
        raise UsageError(
            f"--env {name}: no file envs/{name}.yml"
            + (f" (did you mean '{hint}'?)" if hint else "")
            + (f"; environments: {', '.join(known)}" if known else "; envs/ has no environments")
        )
    with paused_gc(freeze=False):  # a big env file (thousands of vars) builds many objects
        merged, problems = _load_chain(project, name, path)
    overrides = [_parse_set(item) for item in sets]
    if problems:
        raise InvalidInputError(problems, env=name)
    variables = merged.get("vars") or {}
    for key_path, value in overrides:
        _set_path(variables, key_path, value)
    return _environment(project, name, path, merged, variables)


def _env_path(project: Project, name: str) -> Path | None:
    for suffix in (".yml", ".yaml"):
        candidate = project.envs / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def _load_chain(project: Project, name: str, path: Path) -> tuple[dict[str, Any], list[Diagnostic]]:
    """Documents from the farthest base to ``name``, deep-merged; problems of every file."""
    chain: list[tuple[str, Document]] = []
    problems: list[Diagnostic] = []
    seen: list[str] = []
    current: str | None = name
    current_path: Path | None = path
    while current is not None and current_path is not None:
        seen.append(current)
        rel = project.relative(current_path)
        try:
            document = _read(current_path, rel)
        except InvalidInputError as exc:
            problems.extend(exc.diagnostics)
            break
        problems.extend(_check_env_document(document, rel))
        chain.append((rel, document))
        parent = document.data.get("extends")
        if parent is None:
            break
        if not isinstance(parent, str):
            problems.append(
                Diagnostic(rel, document.line_of(("extends",)), "'extends' must be an env name")
            )
            break
        if parent in seen:
            cycle = " → ".join([*seen, parent])
            problems.append(
                Diagnostic(
                    rel,
                    document.line_of(("extends",)),
                    f"extends cycle: {cycle}",
                    "remove one of the `extends` lines",
                )
            )
            break
        current, current_path = parent, _env_path(project, parent)
        if current_path is None:
            hint = did_you_mean(parent, _all_env_files(project))
            problems.append(
                Diagnostic(
                    rel,
                    document.line_of(("extends",)),
                    f"extends '{parent}': no file envs/{parent}.yml",
                    f"did you mean '{hint}'?" if hint else None,
                )
            )
    merged: dict[str, Any] = {}
    for _, document in reversed(chain):
        merged = deep_merge(merged, {k: v for k, v in document.data.items() if k != "extends"})
    return merged, problems


def _all_env_files(project: Project) -> list[str]:
    return sorted(p.stem for p in project.envs.glob("*.y*ml"))


def _read(path: Path, rel: str) -> Document:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            [Diagnostic(rel, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]
        ) from None
    except OSError as exc:
        raise InvalidInputError([Diagnostic(rel, None, f"cannot read: {exc.strerror}")]) from None
    try:
        return load_one(text)
    except YamlError as exc:
        raise InvalidInputError([Diagnostic(rel, exc.line, exc.message)]) from None


def _unknown_keys(document: Document, allowed: Sequence[str], rel: str) -> list[Diagnostic]:
    problems = []
    for key in document.data:
        if key not in allowed:
            hint = did_you_mean(key, allowed)
            problems.append(
                Diagnostic(
                    rel,
                    document.line_of((key,)),
                    f"unknown key '{key}'",
                    f"did you mean '{hint}'?" if hint else f"allowed keys: {', '.join(allowed)}",
                )
            )
    return problems


def _check_env_document(document: Document, rel: str) -> list[Diagnostic]:
    data = document.data
    problems = _unknown_keys(document, ENV_KEYS, rel)

    def bad(key: str | tuple[str, ...], message: str, hint: str | None = None) -> None:
        path = (key,) if isinstance(key, str) else key
        problems.append(Diagnostic(rel, document.line_of(path), message, hint))

    store = data.get("store")
    if store is not None and not (isinstance(store, str) and store.strip()):
        bad("store", "'store' must be a URL: s3://bucket/prefix or file:///path, or a path")
    elif (
        isinstance(store, str)
        and store.startswith("s3://")
        and not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$", store)
    ):
        bad("store", f"store '{store}' is not a valid S3 URL", "use s3://bucket-name/prefix")
    region = data.get("region")
    if region is not None and not (isinstance(region, str) and REGION.match(region)):
        bad("region", f"region {region!r} is not an AWS region name", "e.g. us-east-1 or eu-west-1")
    account = data.get("account")
    if account is not None and not re.match(r"^\d{12}$", _account_text(account)):
        bad(
            "account",
            f"account {account!r} is not a 12-digit AWS account id",
            'quote it: account: "123456789012"',
        )
    for key in ("defaults", "vars", "deploy"):
        if key in data and not isinstance(data[key], dict):
            bad(key, f"'{key}' must be a mapping")
    defaults = data.get("defaults")
    if isinstance(defaults, dict):
        problems.extend(_check_defaults(defaults, document, rel))
    deploy = data.get("deploy")
    if isinstance(deploy, dict):
        for key, value in deploy.items():
            expected = DEPLOY_KEYS.get(key)
            if expected is None:
                hint = did_you_mean(key, DEPLOY_KEYS)
                bad(
                    ("deploy", key),
                    f"unknown key 'deploy.{key}'",
                    f"did you mean '{hint}'?"
                    if hint
                    else f"allowed keys: {', '.join(DEPLOY_KEYS)}",
                )
            elif not isinstance(value, expected) or isinstance(value, bool):
                bad(("deploy", key), f"'deploy.{key}' must be {_type_name(expected)}")
    variables = data.get("vars")
    if isinstance(variables, dict):
        for key in variables:
            if key in RESERVED_VARS:
                bad(
                    ("vars", key),
                    f"vars key '{key}' is reserved (templates see the environment as `env`)",
                    "rename the variable",
                )
            elif key in HELPERS:
                bad(
                    ("vars", key),
                    f"vars key '{key}' is reserved for the template helper {key}()",
                    "rename the variable",
                )
            elif not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key):
                bad(
                    ("vars", key),
                    f"vars key '{key}' is not a valid template name",
                    "use letters, digits and underscores, not starting with a digit",
                )
    return problems


def _check_defaults(defaults: dict[str, Any], document: Document, rel: str) -> list[Diagnostic]:
    from lambdacron.schema import validate_task

    problems = []
    for key in defaults:
        if key not in DEFAULT_KEYS:
            hint = did_you_mean(key, DEFAULT_KEYS)
            problems.append(
                Diagnostic(
                    rel,
                    document.line_of(("defaults", key)),
                    f"unknown key 'defaults.{key}'",
                    f"did you mean '{hint}'?"
                    if hint
                    else f"allowed keys: {', '.join(DEFAULT_KEYS)}",
                )
            )
    probe = {
        "name": "defaults",
        "expression": "@daily",
        "task": {"type": "http", "url": "http://x", "method": "GET"},
    }
    probe.update({k: v for k, v in defaults.items() if k in DEFAULT_KEYS})
    for problem in validate_task(probe):
        if problem.path and problem.path[0] in DEFAULT_KEYS:
            problems.append(
                Diagnostic(
                    rel,
                    document.line_of(("defaults", *problem.path)),
                    f"defaults: {problem.message}",
                    problem.hint,
                )
            )
    return problems


def _account_text(account: Any) -> str:
    # Our YAML reads 012345678901 as a string (no octal, no lost zero), so str() is exact here.
    return str(account)


def _type_name(expected: type | tuple[type, ...]) -> str:
    names = {
        str: "a string",
        int: "a whole number",
        dict: "a mapping",
        list: "a list",
        bool: "true or false",
        type(None): "null",
    }
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _environment(
    project: Project,
    name: str,
    path: Path,
    merged: dict[str, Any],
    variables: dict[str, Any],
) -> Environment:
    store = merged.get("store")
    return Environment(
        name=name,
        path=path,
        store=_store_url(store, project.root) if store else project.store,
        region=merged.get("region"),
        account=_account_text(merged["account"]) if merged.get("account") is not None else None,
        defaults=merged.get("defaults") or {},
        vars=variables,
        deploy=merged.get("deploy") or {},
    )


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key, anything else is replaced."""
    result = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = value
    return result


def _parse_set(item: str) -> tuple[list[str], Any]:
    key, sep, raw = item.partition("=")
    if not sep or not key.strip():
        raise UsageError(
            f"--set {item!r}: expected path.to.key=value, e.g. --set batch.queue=reports"
        )
    parts = key.strip().split(".")
    if any(not p for p in parts):
        raise UsageError(f"--set {item!r}: empty part in the key path '{key}'")
    if parts[0] in RESERVED_VARS:
        raise UsageError(f"--set {item!r}: '{parts[0]}' is reserved; set vars, not the environment")
    try:
        from lambdacron.yamlio import load_documents

        documents = load_documents(raw) if raw.strip() else []
        value: Any = documents[0].data if documents else raw
    except (YamlError, yaml.YAMLError):
        value = raw
    return parts, value


def _set_path(target: dict[str, Any], parts: list[str], value: Any) -> None:
    node = target
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value

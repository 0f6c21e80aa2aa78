"""Safe YAML with positions: every value's line is kept, so errors point at ``file:line``.

Plain scalars follow the YAML 1.2 core schema rather than PyYAML's YAML 1.1 one: ``on``/``no``/
``yes`` stay strings, ``1:30`` is not the number 90, ``012`` is not octal and dates stay strings.
Those YAML 1.1 readings are the classic traps of hand-written schedules. Aliases are allowed, but a
document that expands past ``MAX_NODES`` values is refused (the "billion laughs" attack).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

try:  # the C loader when present: much faster on large projects
    from yaml import CSafeLoader as _BaseLoader
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    from yaml import SafeLoader as _BaseLoader  # type: ignore[assignment]

MAX_NODES = 1_000_000  # far above real projects (100,000 tasks in vars), far below a billion

Path = tuple[str | int, ...]

_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(_BaseLoader):
    """A safe loader with YAML 1.2 core-schema resolution of plain scalars."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _INT, _FLOAT, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver(
    _INT, re.compile(r"^(?:[-+]?(?:0|[1-9][0-9]*)|0x[0-9a-fA-F]+)$"), list("-+0123456789")
)
_Loader.add_implicit_resolver(
    _FLOAT,
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|(?:0|[1-9][0-9]*)(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)


class YamlError(Exception):
    """A YAML document that cannot be read: ``line`` (1-based) and a message with a fix."""

    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


@dataclass
class Document:
    """One YAML document: its data, the line of each value, and its span in the source text."""

    data: Any
    lines: dict[Path, int] = field(default_factory=dict)
    first_line: int = 1
    last_line: int = 1

    def line_of(self, path: Path) -> int:
        """The line of ``path``, or of its nearest parent that has one."""
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), self.first_line)


def load_documents(text: str) -> list[Document]:
    """Parse every non-empty document of ``text`` (lines are 1-based in ``text``)."""
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        raise _explain(exc, text) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        char = exc.character if isinstance(exc.character, str) else chr(exc.character)
        raise YamlError(
            line,
            f"invalid YAML: control character U+{ord(char):04X} is not allowed here "
            "(quote the value with | tojson)",
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(None, f"invalid YAML: {exc}") from None
    documents = []
    for node in nodes:
        if node is None:
            continue
        builder = _Builder()
        data = builder.build(node, ())
        if data is None:
            continue
        end = node.end_mark.line + (1 if node.end_mark.column else 0)
        documents.append(
            Document(
                data, builder.lines, node.start_mark.line + 1, max(end, node.start_mark.line + 1)
            )
        )
    return documents


def load_one(text: str) -> Document:
    """A file that must hold one mapping (env files, lambdacron.yml); empty gives ``{}``."""
    documents = load_documents(text)
    if not documents:
        return Document({})
    if len(documents) > 1:
        raise YamlError(documents[1].first_line, "only one YAML document is allowed here")
    if not isinstance(documents[0].data, dict):
        raise YamlError(documents[0].first_line, "expected a mapping of keys to values")
    return documents[0]


_CORE_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "map", "seq", "merge", "timestamp")
)


class _Builder:
    """Builds plain Python data from composed nodes, recording each value's line."""

    def __init__(self) -> None:
        self.lines: dict[Path, int] = {}
        self.count = 0
        self._scalars = _Loader("")
        self._open: set[int] = set()  # nodes being built: an alias to one of them is a cycle

    def build(self, node: yaml.Node, path: Path) -> Any:
        line = node.start_mark.line + 1
        self.count += 1
        if self.count > MAX_NODES:
            raise YamlError(
                line,
                f"document expands to more than {MAX_NODES:,} values (YAML aliases nested too "
                "deep?); write the values out or split the task",
            )
        if node.tag not in _CORE_TAGS:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise YamlError(
                line, f"YAML tag '{tag}' is not supported (remove the tag, or quote the value)"
            )
        self.lines[path] = line
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self._open:
            raise YamlError(
                line,
                "a YAML alias inside the value it names (it would contain itself); "
                "write the value out",
            )
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        self._scalars.flatten_mapping(node)
        result: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag not in _CORE_TAGS:
                raise YamlError(line, "a key must be a plain string")
            key = self._scalar(key_node)
            if not isinstance(key, str):
                key = (
                    "null"
                    if key is None
                    else str(key).lower()
                    if isinstance(key, bool)
                    else str(key)
                )
            if key in first_seen:
                raise YamlError(
                    line,
                    f"duplicate key '{key}' (first at line {first_seen[key]}); keep one of them",
                )
            first_seen[key] = line
            result[key] = self.build(value_node, (*path, key))
            self.lines[(*path, key)] = line
        return result

    def _scalar(self, node: yaml.ScalarNode) -> Any:
        if node.tag in (_TIMESTAMP, _MERGE):
            return str(node.value)
        try:
            value = self._scalars.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, LookupError) as exc:
            tag = node.tag.replace("tag:yaml.org,2002:", "!!")
            raise YamlError(
                node.start_mark.line + 1,
                f"invalid YAML value {node.value!r} for {tag}: {str(exc).splitlines()[0]}",
            ) from None
        if not isinstance(value, str | int | float | bool | type(None)):
            return str(node.value)
        return value


def _explain(exc: yaml.MarkedYAMLError, text: str) -> YamlError:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or "invalid YAML"
    source_line = text.splitlines()[line - 1] if line and line <= len(text.splitlines()) else ""
    stripped = source_line.split(":", 1)[-1].strip() if ":" in source_line else source_line.strip()
    if stripped.startswith(("*", "&", "@", "`", "%")) or "found undefined alias" in problem:
        key = source_line.split(":", 1)[0].strip() if ":" in source_line else "the value"
        return YamlError(
            line,
            f"invalid YAML: {problem} (a value starting with '{stripped[:1]}' must be quoted: "
            f'{key}: "{stripped}")',
        )
    return YamlError(line, f"invalid YAML: {problem}")


def iter_paths(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Every (path, value) pair of nested data, parents first."""
    yield path, data
    if isinstance(data, dict):
        for key, value in data.items():
            yield from iter_paths(value, (*path, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from iter_paths(value, (*path, index))

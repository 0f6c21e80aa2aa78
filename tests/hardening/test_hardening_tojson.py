"""A valid project with characters beyond the Basic Multilingual Plane renders through tojson."""

from __future__ import annotations

import json
from pathlib import Path

from tests.hardening.corpus import build_project, invoke

TEMPLATE = 'name: t1\nexpression: "@daily"\ndescription: {{ d | tojson }}\ntask: {type: http, url: "http://x", method: GET}\n'


def test_tojson_quotes_characters_beyond_the_basic_plane(tmp_path: Path) -> None:
    build_project(
        tmp_path,
        {"envs/dev.yml": 'vars:\n  d: "caf\u00e9 \U0001f600"\n', "templates/t.yml.j2": TEMPLATE},
    )
    result = invoke(["render", "--env", "dev", "--project", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((tmp_path / "build/dev/manifest.json").read_text(encoding="utf-8"))
    assert manifest["tasks"][0]["description"] == "caf\u00e9 \U0001f600"

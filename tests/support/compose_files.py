"""Reading the compose stack (deploy/docker-compose.yml, deploy/.env.example) as Docker
Compose would: its services, their environment, and Compose's variable interpolation. Used
by tests/test_deploy.py and tests/test_monitoring.py."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from pipeline.app.settings import ENV_NAMES

ROOT = Path(__file__).resolve().parent.parent.parent
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
#: what a pipeline service may be given: its settings, and the file holding them
SETTINGS_VARS = set(ENV_NAMES) | {"PIPELINE_CONFIG"}


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def read_dotenv(path: Path, commented: bool = False) -> dict[str, str]:
    """NAME=value lines (``commented``: the ``#NAME=value`` lines instead), quotes removed."""
    pattern = re.compile(r"^#([A-Za-z_][A-Za-z0-9_]*)=(.*)$" if commented else r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        match = pattern.match(line)
        if match:
            value = match.group(2).strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
                value = value[1:-1]
            assert match.group(1) not in found, f"{path.name}: {match.group(1)} twice"
            found[match.group(1)] = value
    return found


_INTERPOLATION = re.compile(r"\$(?:(\$)|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``$$``, ``${X}``, ``${X:-default}``, ``${X-default}``,
    ``${X:?error}``, ``${X?error}``, ``$X``."""
    def one(match: re.Match[str]) -> str:
        if match.group(1):
            return "$"
        name = match.group(2) or match.group(5)
        op, arg = match.group(3), match.group(4) or ""
        value = env.get(name)
        if op == ":-":
            return value if value else arg
        if op == "-":
            return arg if value is None else value
        if op == ":?" and not value or op == "?" and value is None:
            raise LookupError(f"{name}: {arg}")
        return value or ""
    return _INTERPOLATION.sub(one, text)


def references(text: str) -> Iterator[tuple[str, str | None]]:
    """(variable, operator) of every interpolation in ``text`` (``$$`` is no reference)."""
    for match in _INTERPOLATION.finditer(text):
        if not match.group(1):
            yield match.group(2) or match.group(5), match.group(3)


def resolved(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, dict):
        return {key: resolved(value, env) for key, value in node.items()}
    if isinstance(node, list):
        return [resolved(item, env) for item in node]
    return node


def example_env() -> dict[str, str]:
    """deploy/.env.example with the values compose requires filled in, as an operator would."""
    required = {name for name, op in references(COMPOSE_FILE.read_text(encoding="utf-8")) if op in (":?", "?")}
    env = read_dotenv(ENV_EXAMPLE)
    return {name: value or (f"{name.lower().replace('_', '')}0123456789abcdef0123456789" if name in required else "")
            for name, value in env.items()}


def environment_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}

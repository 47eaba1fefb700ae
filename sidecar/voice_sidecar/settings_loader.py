"""Build ``Settings`` from layers, later wins: defaults, TOML file, environment, command line.

Each value's origin is kept so ``config show`` can say where it came from.
Every problem is one line that names the setting, the value, where it came
from, and what is allowed.
"""

from __future__ import annotations

import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import MISSING, Field, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from .errors import UserFacingError
from .settings import Settings

ENV_PREFIX = "VOICE_SIDECAR_"
CONFIG_FILE_VARIABLE = "VOICE_SIDECAR_CONFIG"
# the supervisor marks its children with this, to find strays of a process tree
SERVICE_MARKER_VARIABLE = "VOICE_SIDECAR_SERVICE_ID"
# set by the packaged launcher (installers/launcher): its folder, and where to find the bundle
LAUNCHER_DIR_VARIABLE = "VOICE_SIDECAR_LAUNCHER_DIR"
BUNDLE_DIR_VARIABLE = "VOICE_SIDECAR_BUNDLE_DIR"
SUPERVISED_VARIABLE = "VOICE_SIDECAR_SUPERVISED"  # log.SUPERVISED_VARIABLE
# where `bench` finds the real speech recordings (bench.real_speech.LOCATION_VARIABLE)
REAL_SPEECH_VARIABLE = "VOICE_SIDECAR_REAL_SPEECH"
_NOT_SETTINGS = {
    CONFIG_FILE_VARIABLE,
    SERVICE_MARKER_VARIABLE,
    LAUNCHER_DIR_VARIABLE,
    BUNDLE_DIR_VARIABLE,
    SUPERVISED_VARIABLE,
    REAL_SPEECH_VARIABLE,
}


class SettingsError(UserFacingError):
    """A setting has a value that is not allowed, or names nothing."""


@dataclass(frozen=True)
class LoadedSettings:
    settings: Settings
    sources: dict[str, str]
    """Dotted name (``stt.model``) to where its value came from."""
    config_file: Path


def section_classes() -> dict[str, type]:
    hints = typing.get_type_hints(Settings)
    return {f.name: hints[f.name] for f in fields(Settings)}


def section_fields(section: str) -> list[Field[Any]]:
    return list(fields(section_classes()[section]))


def env_name(section: str, key: str) -> str:
    return f"{ENV_PREFIX}{section}_{key}".upper()


def is_secret(section: str, key: str) -> bool:
    return any(f.name == key and f.metadata.get("secret") for f in section_fields(section))


def field_type(section: str, key: str) -> Any:
    return typing.get_type_hints(section_classes()[section])[key]


def _describe_type(kind: Any) -> str:
    origin = get_origin(kind)
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(kind))
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(kind) if a is not type(None)]
        return _describe_type(inner[0]) + " or empty"
    return {bool: "true or false", int: "a whole number", float: "a number", str: "text"}.get(
        kind, str(kind)
    )


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def coerce(kind: Any, raw: Any) -> Any:
    """Turn a string (environment, CLI) or TOML value into ``kind``; ValueError if impossible."""
    origin = get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in get_args(kind) if a is not type(None)]
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            return None
        return coerce(inner[0], raw)
    if origin is Literal:
        allowed = get_args(kind)
        value = raw.strip().lower() if isinstance(raw, str) else raw
        if value not in allowed:
            raise ValueError(_describe_type(kind))
        return value
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise ValueError(_describe_type(kind))
    if kind is int:
        if isinstance(raw, bool) or not isinstance(raw, int | str):
            raise ValueError(_describe_type(kind))
        try:
            return int(raw)
        except ValueError:
            raise ValueError(_describe_type(kind)) from None
    if kind is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise ValueError(_describe_type(kind))
        try:
            return float(raw)
        except ValueError:
            raise ValueError(_describe_type(kind)) from None
    if kind is str:
        if not isinstance(raw, str):
            raise ValueError(_describe_type(kind))
        return raw
    raise ValueError(f"unsupported setting type {kind}")


class _Layers:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, Any]] = {name: {} for name in section_classes()}
        self.raw: dict[str, Any] = {}
        self.sources: dict[str, str] = {}

    def put(self, dotted: str, raw: Any, source: str, *, allow_secret: bool) -> None:
        section, _, key = dotted.partition(".")
        if section not in self.values or key not in {f.name for f in section_fields(section)}:
            raise SettingsError(f"{source}: unknown setting {dotted!r}")
        if is_secret(section, key) and not allow_secret:
            raise SettingsError(
                f"{source}: {dotted} is a secret and is not read from there; set "
                f"{env_name(section, key)} or store it with 'voice-sidecar key set llm'"
            )
        kind = field_type(section, key)
        try:
            value = coerce(kind, raw)
        except ValueError as exc:
            shown = "***" if is_secret(section, key) else repr(raw)
            raise SettingsError(
                f"invalid setting {dotted} = {shown} (from {source}): expected {exc}"
            ) from None
        self.values[section][key] = value
        self.raw[dotted] = raw
        self.sources[dotted] = source


def _read_file(path: Path, layers: _Layers) -> None:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"config file {path} is not valid TOML: {exc}") from None
    for section, table in data.items():
        if not isinstance(table, dict):
            raise SettingsError(f"config file {path}: {section!r} must be a [table] of settings")
        for key, raw in table.items():
            layers.put(f"{section}.{key}", raw, f"config file {path}", allow_secret=False)


def _read_environment(environ: Mapping[str, str], layers: _Layers) -> None:
    known = {
        env_name(section, f.name): f"{section}.{f.name}"
        for section in section_classes()
        for f in section_fields(section)
    }
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in _NOT_SETTINGS:
            continue
        dotted = known.get(name)
        if dotted is None:
            raise SettingsError(f"environment variable {name} is not a setting; unset it")
        layers.put(dotted, environ[name], f"environment {name}", allow_secret=True)


def _build(layers: _Layers) -> Settings:
    sections: dict[str, Any] = {}
    for section, cls in section_classes().items():
        try:
            sections[section] = cls(**layers.values[section])
        except ValueError as exc:
            message = str(exc)
            culprit = next(
                (
                    f"{section}.{key}"
                    for key in sorted(layers.values[section], key=len, reverse=True)
                    if key in message
                ),
                None,
            )
            where = f" (from {layers.sources[culprit]})" if culprit in layers.sources else ""
            name = culprit or section
            raise SettingsError(f"invalid setting {name}{where}: {message}") from None
    return Settings(**sections)


def load_settings(
    *,
    config_file: Path,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> LoadedSettings:
    layers = _Layers()
    _read_file(config_file, layers)
    _read_environment(environ, layers)
    for dotted, raw in (overrides or {}).items():
        layers.put(dotted, raw, "command line", allow_secret=False)
    settings = _build(layers)
    sources = {
        f"{section}.{f.name}": layers.sources.get(f"{section}.{f.name}", "default")
        for section in section_classes()
        for f in section_fields(section)
    }
    return LoadedSettings(settings=settings, sources=sources, config_file=config_file)


def with_value(settings: Settings, dotted: str, value: Any) -> Settings:
    """A copy of ``settings`` with one value replaced (used for secrets resolved later)."""
    section, _, key = dotted.partition(".")
    return replace(settings, **{section: replace(getattr(settings, section), **{key: value})})


def default_of(f: Field[Any]) -> Any:
    if f.default is not MISSING:
        return f.default
    if f.default_factory is not MISSING:
        return f.default_factory()
    return None

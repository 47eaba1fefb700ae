"""The model catalog: which Whisper models and Piper voices can be fetched, from where.

The data lives in ``catalog.json`` beside this module; this module only reads
and checks it. A file is verified either against the SHA-256 in the catalog
(``verify == "sha256"``, computed from a real copy of the file) or, where no
copy was available when the catalog was written, against the hash the server
publishes for it (``verify == "server-etag"``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any, Literal, cast

from voice_sidecar.errors import UserFacingError

ModelKind = Literal["whisper", "piper"]
VerifyMode = Literal["sha256", "server-etag"]

CATALOG_FILE = "catalog.json"
SCHEMA = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class CatalogError(UserFacingError):
    """``catalog.json`` is malformed (a packaging or maintainer mistake)."""


@dataclass(frozen=True)
class CatalogFile:
    path: str
    """Path inside the repository, e.g. ``en/en_US/joe/medium/en_US-joe-medium.onnx``."""
    size: int | None
    sha256: str | None
    verify: VerifyMode

    @property
    def name(self) -> str:
        """File name in the local model directory (the repository path's last part)."""
        return PurePosixPath(self.path).name


@dataclass(frozen=True)
class CatalogModel:
    name: str
    kind: ModelKind
    repo: str
    revision: str
    revision_pinned: bool
    language: str | None
    """``en``-style code for single-language models, None for multilingual Whisper."""
    files: tuple[CatalogFile, ...]
    memory_mb: Mapping[str, Mapping[str, int]]
    """Approximate memory per device (``cpu``/``cuda``) and compute type; estimates."""
    aliases: tuple[str, ...] = ()
    params_millions: int | None = None
    quality: str | None = None
    licence: str | None = None
    hash_source: str = ""

    @property
    def total_size(self) -> int | None:
        """Sum of the file sizes, or None while any size is unknown."""
        sizes = [f.size for f in self.files]
        return None if any(s is None for s in sizes) else sum(s or 0 for s in sizes)

    @property
    def english_only(self) -> bool:
        return self.language is not None and self.language.startswith("en")

    def file(self, name: str) -> CatalogFile:
        for item in self.files:
            if item.name == name:
                return item
        raise KeyError(name)

    @property
    def primary_file(self) -> str:
        """The file that proves the model is there: ``model.bin`` or the voice's ``.onnx``."""
        return "model.bin" if self.kind == "whisper" else f"{self.name}.onnx"


@dataclass(frozen=True)
class Catalog:
    models: tuple[CatalogModel, ...]
    _index: dict[str, CatalogModel] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for model in self.models:
            for key in (model.name, *model.aliases):
                if key in self._index:
                    raise CatalogError(f"model catalog names {key!r} twice")
                self._index[key] = model

    def get(self, name: str, kind: ModelKind | None = None) -> CatalogModel | None:
        model = self._index.get(name)
        if model is None or (kind is not None and model.kind != kind):
            return None
        return model

    def require(self, name: str, kind: ModelKind | None = None) -> CatalogModel:
        model = self.get(name, kind)
        if model is None:
            what = {"whisper": "Whisper model", "piper": "Piper voice", None: "model"}[kind]
            known = ", ".join(m.name for m in self.of_kind(kind))
            raise UserFacingError(f"{what} {name!r} is not in the catalog (known: {known})")
        return model

    def of_kind(self, kind: ModelKind | None) -> Iterator[CatalogModel]:
        return (m for m in self.models if kind is None or m.kind == kind)

    def __iter__(self) -> Iterator[CatalogModel]:
        return iter(self.models)


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise CatalogError(f"{where}: {key!r} must be a non-empty string")
    return value


def _opt_str(data: Mapping[str, Any], key: str, where: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise CatalogError(f"{where}: {key!r} must be a string or null")
    return value


def _parse_file(data: Any, where: str) -> CatalogFile:
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: each file must be an object")
    path = _str(data, "path", where)
    if path.startswith("/") or ".." in PurePosixPath(path).parts:
        raise CatalogError(f"{where}: file path {path!r} must stay inside the repository")
    size = data.get("size")
    if size is not None and (not isinstance(size, int) or size < 0):
        raise CatalogError(f"{where}: size of {path} must be a byte count or null")
    sha256 = _opt_str(data, "sha256", where)
    verify = data.get("verify")
    if verify == "sha256":
        if sha256 is None or not _SHA256.match(sha256):
            raise CatalogError(f"{where}: {path} says verify=sha256 but has no valid sha256")
    elif verify == "server-etag":
        if sha256 is not None:
            raise CatalogError(f"{where}: {path} has a sha256, so verify must be 'sha256'")
    else:
        raise CatalogError(f"{where}: {path} verify must be 'sha256' or 'server-etag'")
    return CatalogFile(path=path, size=size, sha256=sha256, verify=cast(VerifyMode, verify))


def _parse_memory(data: Any, where: str) -> dict[str, dict[str, int]]:
    if not isinstance(data, dict):
        raise CatalogError(f"{where}: memory_mb must be an object")
    out: dict[str, dict[str, int]] = {}
    for device, types in data.items():
        if not isinstance(types, dict) or not all(
            isinstance(v, int) and v > 0 for v in types.values()
        ):
            raise CatalogError(f"{where}: memory_mb.{device} must map compute types to MB")
        out[str(device)] = {str(k): int(v) for k, v in types.items()}
    return out


def _parse_model(data: Any, index: int) -> CatalogModel:
    if not isinstance(data, dict):
        raise CatalogError(f"models[{index}] must be an object")
    where = f"model {data.get('name', index)!r}"
    kind = data.get("kind")
    if kind not in ("whisper", "piper"):
        raise CatalogError(f"{where}: kind must be 'whisper' or 'piper'")
    files = data.get("files")
    if not isinstance(files, list) or not files:
        raise CatalogError(f"{where}: files must be a non-empty list")
    parsed = tuple(_parse_file(item, where) for item in files)
    names = [f.name for f in parsed]
    if len(set(names)) != len(names):
        raise CatalogError(f"{where}: two files share a local name")
    aliases = data.get("aliases", [])
    if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
        raise CatalogError(f"{where}: aliases must be a list of names")
    params = data.get("params_millions")
    model = CatalogModel(
        name=_str(data, "name", where),
        kind=cast(ModelKind, kind),
        repo=_str(data, "repo", where),
        revision=_str(data, "revision", where),
        revision_pinned=bool(data.get("revision_pinned", False)),
        language=_opt_str(data, "language", where),
        files=parsed,
        memory_mb=_parse_memory(data.get("memory_mb", {}), where),
        aliases=tuple(aliases),
        params_millions=params if isinstance(params, int) else None,
        quality=_opt_str(data, "quality", where),
        licence=_opt_str(data, "licence", where),
        hash_source=_opt_str(data, "hash_source", where) or "",
    )
    if model.primary_file not in names:
        raise CatalogError(f"{where}: files must include {model.primary_file}")
    return model


def parse_catalog(data: Any) -> Catalog:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise CatalogError(f"model catalog must be an object with schema {SCHEMA}")
    models = data.get("models")
    if not isinstance(models, list):
        raise CatalogError("model catalog has no models list")
    return Catalog(models=tuple(_parse_model(item, i) for i, item in enumerate(models)))


def catalog_path() -> Path:
    """Where the packaged ``catalog.json`` lies (a real file: the package is not zipped)."""
    return Path(str(resources.files("voice_sidecar.models").joinpath(CATALOG_FILE)))


def load_catalog(path: Path | None = None) -> Catalog:
    source = path or catalog_path()
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CatalogError(f"cannot read the model catalog {source}: {exc}") from None
    return parse_catalog(data)


def dump_catalog_json(data: Mapping[str, Any]) -> str:
    """``catalog.json`` text: indented, with each file and memory table on one line."""

    def render(value: Any, indent: int) -> str:
        pad = "  " * indent
        if isinstance(value, dict) and all(not isinstance(v, dict | list) for v in value.values()):
            return json.dumps(value)
        if isinstance(value, dict):
            items = [f"{pad}  {json.dumps(k)}: {render(v, indent + 1)}" for k, v in value.items()]
            return "{\n" + ",\n".join(items) + f"\n{pad}}}"
        if isinstance(value, list) and (
            any(isinstance(v, dict | list) for v in value) or len(json.dumps(value)) > 80
        ):
            items = [f"{pad}  {render(v, indent + 1)}" for v in value]
            return "[\n" + ",\n".join(items) + f"\n{pad}]"
        return json.dumps(value)

    return render(dict(data), 0) + "\n"

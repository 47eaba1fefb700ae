"""THIRD_PARTY_LICENSES.txt for a frozen sidecar: which Python distributions and native
components a PyInstaller one-dir bundle carries, their licences, and the licence texts.

    python -m installers.licences dist/voice-sidecar/_internal --out FILE [--markdown-summary FILE]

What is bundled comes from the bundle itself: the top-level entries of ``_internal`` (package
folders, extension modules, ``*.dist-info`` and ``<name>.libs`` folders) and the modules in the
executable's PYZ archive (pure-Python packages live only there). Names are mapped to the
distributions installed in this environment, the one the bundle was built from. A top-level
entry that maps to nothing known is an error: an unknown licence must not slip through.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib
import importlib.metadata as metadata
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from installers.licence_components import (
    CTRANSLATE2_TEXT,
    LIVEKIT_SERVER,
    NATIVE_COMPONENTS,
    PYTHON_RUNTIME,
    NativeComponent,
    TextRef,
)
from installers.licence_report import Component, LicenceText, render_markdown, render_text

# the sidecar itself: proprietary, not third-party
OWN_DISTRIBUTIONS = frozenset({"voice-sidecar"})
LICENCE_TEXT_DIR = Path(__file__).resolve().parent / "licence_texts"
_LICENCE_FILE_PREFIXES = ("LICENSE", "LICENCE", "COPYING", "NOTICE")
# licences whose text names no copyright holder, so the standard text may stand in for a
# distribution that ships none (MIT and BSD texts carry the holder's name: those cannot)
STANDARD_TEXTS = {
    "Apache-2.0": "Apache-2.0.txt",
    "Apache Software License": "Apache-2.0.txt",
    "GPL-2.0-or-later": "GPL-2.0.txt",
    "LGPL-2.1-or-later": "LGPL-2.1.txt",
    "LGPL-3.0-or-later": "LGPL-3.0.txt",
}
# distributions whose wheels carry no licence file
DISTRIBUTION_TEXTS = {"ctranslate2": CTRANSLATE2_TEXT}
_SHORT_LICENCE = 100  # longer License fields are whole licence texts, not names


class LicenceError(Exception):
    """The bundle holds something whose licence cannot be determined."""


@dataclass
class BundleScan:
    distributions: set[str] = field(default_factory=set)
    natives: list[NativeComponent] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    # files in <name>.libs folders that no native component describes
    unlisted_libraries: list[str] = field(default_factory=list)


# -- what is in the bundle --------------------------------------------------------------------


def top_level_entries(internal_dir: Path) -> list[str]:
    """Names directly under _internal, without symlinks into the bundle itself (PyInstaller on
    Linux links e.g. numpy.libs/libscipy_openblas*.so to the top level: counted once, there)."""
    names = []
    for entry in sorted(internal_dir.iterdir()):
        if entry.is_symlink() and entry.resolve().is_relative_to(internal_dir.resolve()):
            continue
        names.append(entry.name)
    return names


def pyz_modules(executable: Path) -> frozenset[str]:
    """Module names (dotted) in the PYZ archive PyInstaller appends to the executable."""
    # PyInstaller has no type information; its archive readers are what pyi-archive_viewer uses
    readers = importlib.import_module("PyInstaller.archive.readers")
    archive = readers.CArchiveReader(str(executable))
    names: set[str] = set()
    for name, entry in archive.toc.items():
        if entry[-1] == "z":
            names.update(str(module) for module in archive.open_embedded_archive(name).toc)
    return frozenset(names)


def default_executable(internal_dir: Path) -> Path | None:
    """dist/voice-sidecar/_internal -> dist/voice-sidecar/voice-sidecar[.exe], if it is there."""
    bundle = internal_dir.parent
    for candidate in (bundle / bundle.name, bundle / f"{bundle.name}.exe"):
        if candidate.is_file():
            return candidate
    return None


def _is_stdlib(module: str) -> bool:
    return module in sys.stdlib_module_names or module.startswith("_sysconfigdata")


def _module_name(entry: str) -> str:
    """numpy -> numpy; _cffi_backend.cpython-311-x86_64-linux-gnu.so -> _cffi_backend."""
    return entry.split(".")[0]


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def _installed(name: str) -> str | None:
    try:
        return _normalise(metadata.distribution(name).metadata["Name"])
    except metadata.PackageNotFoundError:
        return None


def distributions_for_entry(entry: str, index: Mapping[str, Sequence[str]]) -> list[str]:
    """The installed distributions a top-level _internal entry belongs to (empty: none)."""
    if entry.endswith((".dist-info", ".egg-info")):
        found = _installed(entry.rsplit(".", 1)[0].split("-")[0])
        return [found] if found else []
    if entry.endswith(".libs"):
        # auditwheel and delvewheel name the folder after the distribution, e.g. pillow.libs
        owner = entry.removesuffix(".libs")
        found = _installed(owner)
        return [found] if found else [_normalise(d) for d in index.get(owner, [])]
    return sorted({_normalise(d) for d in index.get(_module_name(entry), [])})


def claimed_by(entry: str, components: Iterable[NativeComponent]) -> NativeComponent | None:
    for component in components:
        if any("/" not in p and fnmatch.fnmatch(entry, p) for p in component.paths):
            return component
    return None


def bundled_natives(
    internal_dir: Path, components: Iterable[NativeComponent]
) -> list[NativeComponent]:
    return [c for c in components if any(next(internal_dir.glob(p), None) for p in c.paths)]


def unlisted_libraries(internal_dir: Path, components: Sequence[NativeComponent]) -> list[str]:
    """Files in <name>.libs folders (native libraries a wheel vendors) that no component names."""
    patterns = [p for c in components for p in c.paths if ".libs/" in p]
    unlisted = []
    for library in sorted(internal_dir.glob("*.libs/*")):
        relative = library.relative_to(internal_dir).as_posix()
        if not any(fnmatch.fnmatch(relative, p) for p in patterns):
            unlisted.append(relative)
    return unlisted


def _module_of(path: PurePosixPath) -> str | None:
    if path.suffix != ".py":
        return None
    parts = path.with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def has_files_in_bundle(distribution: str, internal_dir: Path, modules: frozenset[str]) -> bool:
    """Whether any file of the distribution is in _internal or any of its modules in the PYZ."""
    for file in metadata.distribution(distribution).files or []:
        path = PurePosixPath(str(file))
        if _module_of(path) in modules or (internal_dir / path).exists():
            return True
    return False


def _narrow(found: list[str], internal_dir: Path, modules: frozenset[str]) -> list[str]:
    """A name several distributions share (livekit, google): keep those with files there."""
    if len(found) < 2:
        return found
    present = [d for d in found if has_files_in_bundle(d, internal_dir, modules)]
    return present or found


# packages the build replaces with its own stand-ins (installers/stubs): not shipped then
STAND_INS = {
    "av": "av/__init__.py",
    "livekit-local-inference": "livekit/local_inference/__init__.py",
}
_STAND_IN_MARK = '"""Stand-in for'


def replaced_by_stand_ins(internal_dir: Path) -> set[str]:
    replaced = set()
    for distribution, relative in STAND_INS.items():
        path = internal_dir / relative
        if path.is_file() and path.read_text(encoding="utf-8").startswith(_STAND_IN_MARK):
            replaced.add(distribution)
    return replaced


def scan_bundle(
    internal_dir: Path,
    modules: Iterable[str],
    index: Mapping[str, Sequence[str]],
    components: Sequence[NativeComponent] = NATIVE_COMPONENTS,
) -> BundleScan:
    scan = BundleScan(natives=bundled_natives(internal_dir, components))
    modules = frozenset(modules)
    for entry in top_level_entries(internal_dir):
        found = _narrow(distributions_for_entry(entry, index), internal_dir, modules)
        if found:
            scan.distributions.update(found)
        elif not (claimed_by(entry, components) or _is_stdlib(_module_name(entry))):
            scan.unknown.append(entry)
    for module in sorted({m.split(".")[0] for m in modules}):
        found = _narrow([_normalise(d) for d in index.get(module, [])], internal_dir, modules)
        if found:
            scan.distributions.update(found)
        elif not _is_stdlib(module):
            scan.unknown.append(f"{module} (a module in the executable)")
    scan.distributions -= OWN_DISTRIBUTIONS | replaced_by_stand_ins(internal_dir)
    scan.unlisted_libraries = unlisted_libraries(internal_dir, components)
    return scan


# -- what each distribution says about its licence --------------------------------------------


def _field(meta: metadata.PackageMetadata, name: str) -> str:
    values = meta.get_all(name) or []
    return str(values[0]).strip() if values else ""


def licence_of(meta: metadata.PackageMetadata) -> str | None:
    """License-Expression, else a short License field, else the License :: classifiers."""
    expression = _field(meta, "License-Expression")
    if expression:
        return expression
    declared = _field(meta, "License")
    if declared and len(declared) <= _SHORT_LICENCE and "\n" not in declared:
        return declared
    classifiers = [
        str(c).split(" :: ")[-1]
        for c in meta.get_all("Classifier") or []
        if str(c).startswith("License :: ") and not str(c).endswith(":: OSI Approved")
    ]
    return "; ".join(classifiers) or None


def is_licence_file(path: PurePosixPath) -> bool:
    if path.parts and path.parts[0] == "..":
        return False  # installed outside site-packages (piper-tts repeats its COPYING there)
    in_licences_folder = any(p in ("licenses", "licences") for p in path.parts[:-1])
    name = path.name.upper()
    return in_licences_folder or name.startswith(_LICENCE_FILE_PREFIXES) or "NOTICES" in name


def licence_texts(dist: metadata.Distribution) -> tuple[LicenceText, ...]:
    texts = []
    label = f"{dist.metadata['Name']} {dist.version}"
    for file in dist.files or []:
        path = PurePosixPath(str(file))
        located = Path(str(dist.locate_file(file)))
        if is_licence_file(path) and located.is_file():
            text = located.read_text(encoding="utf-8", errors="replace")
            texts.append(LicenceText(f"{label}: {path}", text))
    return tuple(texts)


def distribution_component(name: str) -> Component:
    dist = metadata.distribution(name)
    licence = licence_of(dist.metadata) or "UNKNOWN"
    texts = licence_texts(dist)
    if not texts:
        fallback = DISTRIBUTION_TEXTS.get(name)
        if fallback is None and licence in STANDARD_TEXTS:
            fallback = TextRef(STANDARD_TEXTS[licence])
        found = read_text_ref(fallback) if fallback is not None else None
        texts = (found,) if found else ()
    return Component(
        name=str(dist.metadata["Name"]), version=dist.version, licence=licence, texts=texts
    )


# -- the components that are not distributions ------------------------------------------------


def _python_licence_file() -> Path | None:
    base = Path(sys.base_prefix)
    for candidate in (
        base / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "LICENSE.txt",
        base / "LICENSE.txt",
        base / "Lib" / "LICENSE.txt",
    ):
        if candidate.is_file():
            return candidate
    return None


def read_text_ref(ref: TextRef) -> LicenceText | None:
    if ref.distribution is None:
        path: Path | None = LICENCE_TEXT_DIR / ref.path
        label = ref.path.removesuffix(".txt")
    elif ref.distribution == PYTHON_RUNTIME:
        path, label = _python_licence_file(), f"Python {platform.python_version()}: LICENSE.txt"
    else:
        dist = metadata.distribution(ref.distribution)
        matches = [f for f in dist.files or [] if PurePosixPath(str(f)).match(ref.path)]
        path = Path(str(dist.locate_file(matches[0]))) if matches else None
        label = f"{dist.metadata['Name']} {dist.version}: {ref.path}"
    if path is None or not path.is_file():
        return None
    return LicenceText(label, path.read_text(encoding="utf-8", errors="replace"))


def native_component(component: NativeComponent, internal_dir: Path) -> Component:
    if component.name == "CPython runtime":
        version = platform.python_version()
    elif component.bundled_by:
        version = f"({component.bundled_by} {metadata.version(component.bundled_by)})"
    else:
        version = ""
    detected = component.detect_licence(internal_dir) if component.detect_licence else None
    texts = [read_text_ref(ref) for ref in component.texts]
    return Component(
        name=component.name,
        version=version,
        licence=detected or component.licence,
        note=component.note,
        texts=tuple(t for t in texts if t is not None),
    )


def livekit_server_component(version: str) -> Component:
    texts = [read_text_ref(ref) for ref in LIVEKIT_SERVER.texts]
    return Component(
        name=LIVEKIT_SERVER.name,
        version=version,
        licence=LIVEKIT_SERVER.licence,
        note=LIVEKIT_SERVER.note,
        texts=tuple(t for t in texts if t is not None),
    )


# -- putting it together ----------------------------------------------------------------------


def collect_components(
    internal_dir: Path, modules: Iterable[str], livekit_server_version: str | None
) -> tuple[list[Component], BundleScan]:
    """Raises LicenceError naming every entry or distribution whose licence is unknown."""
    scan = scan_bundle(internal_dir, modules, metadata.packages_distributions())
    if scan.unknown:
        raise LicenceError(
            "no distribution or known component for bundled "
            + ", ".join(scan.unknown)
            + " (add it to installers/licence_components.py)"
        )
    components = [distribution_component(name) for name in sorted(scan.distributions)]
    unknown = [c.name for c in components if c.licence == "UNKNOWN"]
    if unknown:
        raise LicenceError("no licence in the metadata of " + ", ".join(unknown))
    components += [native_component(c, internal_dir) for c in scan.natives]
    if livekit_server_version:
        components.append(livekit_server_component(livekit_server_version))
    return components, scan


def write_licence_files(
    internal_dir: Path,
    out: Path,
    *,
    executable: Path | None = None,
    markdown_summary: Path | None = None,
    livekit_server_version: str | None = None,
) -> list[str]:
    """Writes THIRD_PARTY_LICENSES.txt (and the Markdown summary); returns warnings to print."""
    if not internal_dir.is_dir():
        raise LicenceError(f"{internal_dir} is not a directory (build the one-dir bundle first)")
    executable = executable or default_executable(internal_dir)
    if executable is None:
        raise LicenceError(
            f"no executable beside {internal_dir} to read the bundled Python modules from "
            "(pass --executable)"
        )
    components, scan = collect_components(
        internal_dir, pyz_modules(executable), livekit_server_version
    )
    out.write_text(render_text(components, scan.unlisted_libraries), encoding="utf-8")
    if markdown_summary:
        markdown_summary.write_text(render_markdown(components), encoding="utf-8")
    missing = [c.name for c in components if not c.texts]
    warnings = [f"native library without a licence entry: {lib}" for lib in scan.unlisted_libraries]
    if missing:
        warnings.append("no licence text found for: " + ", ".join(missing))
    return warnings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m installers.licences", description=__doc__.splitlines()[0]
    )
    parser.add_argument("internal_dir", type=Path, help="the bundle's _internal folder")
    parser.add_argument("--out", type=Path, required=True, help="THIRD_PARTY_LICENSES.txt to write")
    parser.add_argument("--markdown-summary", type=Path, help="also write a Markdown table here")
    parser.add_argument("--executable", type=Path, help="default: the bundle's executable")
    parser.add_argument(
        "--livekit-server-version",
        help="list the livekit-server binary shipped beside the sidecar (default: the pinned one)",
    )
    parser.add_argument(
        "--without-livekit-server", action="store_true", help="for --skip-livekit builds"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    server_version = None
    if not args.without_livekit_server:
        from voice_sidecar.livekit_server.version import LIVEKIT_VERSION

        server_version = args.livekit_server_version or LIVEKIT_VERSION
    try:
        warnings = write_licence_files(
            args.internal_dir,
            args.out,
            executable=args.executable,
            markdown_summary=args.markdown_summary,
            livekit_server_version=server_version,
        )
    except LicenceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""installers.licences: which distributions and native components a frozen one-dir bundle carries
and what THIRD_PARTY_LICENSES.txt says about them. The bundle is a small imitation built in
tmp_path from the real installed package names, with a real PyInstaller archive as executable;
licences and texts come from the distributions installed in .venv."""

from __future__ import annotations

import importlib.metadata as metadata
import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from installers.licence_components import LIVEKIT_SERVER, NATIVE_COMPONENTS, PYTHON_RUNTIME
from installers.licence_report import copyleft, render_text
from installers.licences import (
    LICENCE_TEXT_DIR,
    LicenceError,
    collect_components,
    distribution_component,
    licence_of,
    main,
    pyz_modules,
    read_text_ref,
    scan_bundle,
)

AVCODEC = b"\x00junk\x00libavcodec license: LGPL version 3 or later\x00more\x00"


def _write_executable(path: Path, modules: list[str]) -> Path:
    """A PyInstaller CArchive holding a PYZ of the given modules, as appended to a real exe."""
    from PyInstaller.archive.writers import CArchiveWriter, ZlibArchiveWriter

    entries, code = [], {}
    for module in modules:
        spec = importlib.util.find_spec(module)
        assert spec is not None
        assert spec.origin is not None
        entries.append((module, spec.origin, "PYMODULE"))
        code[module] = compile("", spec.origin, "exec")  # only the names matter here
    pyz = path.parent / "PYZ.pyz"
    ZlibArchiveWriter(str(pyz), entries, code)
    CArchiveWriter(str(path), [("PYZ.pyz", str(pyz), False, "z")], "libpython3.11.so.1.0")
    pyz.unlink()
    return path


def _touch(path: Path, data: bytes = b"") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    """dist/voice-sidecar/_internal as PyInstaller lays it out on Linux, in miniature."""
    internal = tmp_path / "voice-sidecar" / "_internal"
    for folder in ("numpy", "faster_whisper", "python3.11/lib-dynload", "piper/espeak-ng-data"):
        (internal / folder).mkdir(parents=True)
    (internal / f"numpy-{metadata.version('numpy')}.dist-info").mkdir()
    _touch(internal / "numpy.libs" / "libscipy_openblas64_-32a4b2a6.so")
    _touch(internal / "av.libs" / "libavcodec-5e6b81c2.so.62.28.102", AVCODEC)
    _touch(internal / "av.libs" / "libx264-d6533a8d.so.165")
    _touch(internal / "livekit" / "plugins" / "silero" / "resources" / "silero_vad.onnx")
    for name in ("base_library.zip", "libpython3.11.so.1.0", "libssl.so.3"):
        _touch(internal / name)
    _touch(internal / "_cffi_backend.cpython-311-x86_64-linux-gnu.so")
    if hasattr(os, "symlink"):
        (internal / "libscipy_openblas64_-32a4b2a6.so").symlink_to(
            Path("numpy.libs") / "libscipy_openblas64_-32a4b2a6.so"
        )
    _write_executable(internal.parent / "voice-sidecar", ["platformdirs", "json", "piper"])
    return internal


def _scan(internal: Path) -> tuple[set[str], set[str], list[str]]:
    modules = pyz_modules(internal.parent / "voice-sidecar")
    scan = scan_bundle(internal, modules, metadata.packages_distributions())
    return scan.distributions, {c.name for c in scan.natives}, scan.unknown


# -- what is in the bundle --------------------------------------------------------------------


def test_packages_replaced_by_stand_ins_are_not_listed(bundle: Path) -> None:
    """installers/stubs puts its own av/ and livekit/local_inference/ where the real ones were."""
    stubs = Path(__file__).resolve().parent.parent / "installers" / "stubs"
    shutil.rmtree(bundle / "av.libs")
    _touch(bundle / "av" / "__init__.py", (stubs / "av" / "__init__.py").read_bytes())
    _touch(
        bundle / "livekit" / "local_inference" / "__init__.py",
        (stubs / "livekit_local_inference" / "__init__.py").read_bytes(),
    )
    distributions, _, unknown = _scan(bundle)
    assert "av" not in distributions
    assert "livekit-local-inference" not in distributions
    assert unknown == []
    # the real package (its own __init__.py) is listed as usual
    _touch(bundle / "av" / "__init__.py", b"from av._core import *\n")
    assert "av" in _scan(bundle)[0]


def test_the_executables_modules_are_read_from_its_archive(bundle: Path) -> None:
    assert pyz_modules(bundle.parent / "voice-sidecar") == {"platformdirs", "json", "piper"}


def test_a_shared_top_level_name_keeps_only_the_distributions_with_files_there(
    bundle: Path,
) -> None:
    """livekit/ belongs to eight livekit-* distributions; only Silero's files are here."""
    distributions, _, _ = _scan(bundle)
    assert "livekit-plugins-silero" in distributions
    assert "livekit-agents" not in distributions


def test_bundle_entries_map_to_their_distributions(bundle: Path) -> None:
    distributions, _, unknown = _scan(bundle)
    # folders, the dist-info, the .libs folder, an extension module and the archive's modules;
    # json is the standard library and the sidecar itself is not third-party
    assert distributions == {
        "numpy",
        "faster-whisper",
        "av",
        "cffi",
        "platformdirs",
        "piper-tts",
        "livekit-plugins-silero",
    }
    assert unknown == []


def test_native_components_are_found_by_their_files(bundle: Path) -> None:
    _, natives, _ = _scan(bundle)
    assert {
        "CPython runtime",
        "PyInstaller bootloader",
        "OpenSSL",
        "OpenBLAS (scipy-openblas)",
        "FFmpeg (libavcodec, libavformat, libavutil, ...)",
        "x264",
        "espeak-ng",
        "Silero VAD model",
    } <= natives
    assert "GNU Readline" not in natives
    assert "LiveKit FFI library" not in natives


def test_ffmpeg_licence_is_the_one_libavcodec_reports(bundle: Path) -> None:
    components, _ = collect_components(bundle, ["piper"], None)
    ffmpeg = next(c for c in components if c.name.startswith("FFmpeg"))
    assert ffmpeg.licence == "LGPL-3.0-or-later"
    assert ffmpeg.version == f"(av {metadata.version('av')})"


def test_an_unknown_top_level_entry_is_an_error(bundle: Path) -> None:
    """Regression guard: a folder from a package that is not installed would otherwise be
    bundled with no licence listed at all."""
    (bundle / "mystery_blob").mkdir()
    with pytest.raises(LicenceError, match="mystery_blob"):
        collect_components(bundle, [], None)


def test_an_unknown_module_in_the_executable_is_an_error(bundle: Path) -> None:
    with pytest.raises(LicenceError, match="no_such_module_anywhere"):
        collect_components(bundle, ["no_such_module_anywhere"], None)


def test_an_unlisted_native_library_is_reported(bundle: Path, tmp_path: Path) -> None:
    _touch(bundle / "av.libs" / "libsurprise-0123.so.1")
    out = tmp_path / "licences.txt"
    assert main([str(bundle), "--out", str(out), "--without-livekit-server"]) == 0
    assert (
        "av.libs/libsurprise-0123.so.1"
        in out.read_text(encoding="utf-8").partition("\ncomponent ")[0]
    )


# -- licences and texts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("distribution", "expected"),
    [
        ("numpy", metadata.metadata("numpy")["License-Expression"]),  # License-Expression
        ("ctranslate2", "MIT"),  # a short License field
        ("tokenizers", "Apache Software License"),  # only a classifier
        ("matplotlib", "Python Software Foundation License"),  # License is the whole text
    ],
)
def test_licence_of_prefers_the_expression_then_a_short_field(
    distribution: str, expected: str
) -> None:
    assert licence_of(metadata.metadata(distribution)) == expected


def test_licence_texts_are_read_from_the_installed_distributions(bundle: Path) -> None:
    components = {c.name: c for c in collect_components(bundle, ["piper"], None)[0]}
    piper_texts = "".join(t.text for t in components["piper-tts"].texts)
    assert "GNU GENERAL PUBLIC LICENSE" in piper_texts
    assert "Version 3, 29 June 2007" in piper_texts
    numpy_sources = [t.source for t in components["numpy"].texts]
    assert any(s.endswith("dist-info/licenses/LICENSE.txt") for s in numpy_sources)
    assert "x264" in components
    assert "GNU GENERAL PUBLIC LICENSE" in components["x264"].texts[0].text


def test_a_distribution_without_a_licence_file_gets_the_vendored_text() -> None:
    ctranslate2 = distribution_component("ctranslate2")
    assert ctranslate2.licence == "MIT"
    assert [t.source for t in ctranslate2.texts] == ["CTranslate2-MIT"]
    assert "Copyright (c) 2019 The OpenNMT Authors" in ctranslate2.texts[0].text


def test_python_module_libraries_carry_their_copyright_files(bundle: Path) -> None:
    for name in ("libz.so.1", "liblzma.so.5", "libffi.so.8", "libsqlite3.so.0"):
        _touch(bundle / name)
    components = {c.name: c for c in collect_components(bundle, ["piper"], None)[0]}
    assert "Jean-loup Gailly" in components["zlib"].texts[0].text
    assert "liblzma is in the public domain" in components["XZ Utils (liblzma)"].texts[0].text
    assert "Anthony Green" in components["libffi"].texts[0].text
    assert "D. Richard Hipp" in components["SQLite"].texts[0].text


def test_every_text_a_component_names_exists_here() -> None:
    """A mistyped path in installers/licence_components.py would leave a component textless."""
    for component in (*NATIVE_COMPONENTS, LIVEKIT_SERVER):
        for ref in component.texts:
            if ref.distribution is None:
                assert (LICENCE_TEXT_DIR / ref.path).is_file(), ref
            elif ref.distribution != PYTHON_RUNTIME:
                assert read_text_ref(ref) is not None, (component.name, ref)


@pytest.mark.parametrize(
    ("licence", "expected"),
    [
        ("GPL-3.0-or-later", "GPL"),
        ("GPL-2.0-or-later", "GPL"),
        ("GNU General Public License v3 (GPLv3)", "GPL"),
        ("LGPL-2.1-or-later", "LGPL"),
        ("GNU Lesser General Public License v2 or later (LGPLv2+)", "LGPL"),
        ("LGPL-3.0-or-later OR GPL-2.0-or-later", "LGPL"),
        ("MIT AND GPL-3.0-only", "GPL"),
        ("GPL-3.0-or-later WITH GCC-exception-3.1", None),
        ("GPLv2-or-later with a special exception which allows to use PyInstaller", None),
        ("Apache-2.0 OR BSD-3-Clause", None),
        ("MIT", None),
        ("MPL-2.0", None),
    ],
)
def test_copyleft_classification(licence: str, expected: str | None) -> None:
    assert copyleft(licence) == expected


def test_gpl_components_are_flagged_before_the_table(bundle: Path) -> None:
    components, scan = collect_components(bundle, ["piper"], "1.9.1")
    text = render_text(components, scan.unlisted_libraries)
    header, _, body = text.partition("\ncomponent ")
    flagged = [line for line in header.splitlines() if line.startswith("!!   - ")]
    assert [line.split(":")[0].removeprefix("!!   - ") for line in flagged] == [
        f"piper-tts {metadata.version('piper-tts')}",
        f"x264 (av {metadata.version('av')})",
        f"espeak-ng (piper-tts {metadata.version('piper-tts')})",
    ]
    assert "livekit-server" in body
    assert "1.9.1" in body


# -- the command line -------------------------------------------------------------------------


def test_cli_writes_the_licence_file_and_the_markdown_summary(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, summary = tmp_path / "THIRD_PARTY_LICENSES.txt", tmp_path / "summary.md"
    assert main([str(bundle), "--out", str(out), "--markdown-summary", str(summary)]) == 0
    text = out.read_text(encoding="utf-8")
    assert text.startswith("THIRD-PARTY SOFTWARE IN VOICE-SIDECAR")
    assert "GNU GENERAL PUBLIC LICENSE" in text
    assert "livekit-server" in text
    markdown = summary.read_text(encoding="utf-8")
    assert "| piper-tts |" in markdown
    assert "**GPL components**" in markdown
    assert f"wrote {out}" in capsys.readouterr().out


def test_cli_fails_with_one_line_for_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "dist" / "voice-sidecar" / "_internal"
    assert main([str(missing), "--out", str(tmp_path / "out.txt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not a directory" in err
    assert not (tmp_path / "out.txt").exists()


def test_cli_fails_with_one_line_for_an_unknown_entry(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "mystery_blob.so").touch()
    assert main([str(bundle), "--out", str(tmp_path / "out.txt")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "mystery_blob.so" in err

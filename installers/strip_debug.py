"""Remove DWARF debug sections from the big native libraries of a Linux bundle.

PyInstaller's own ``--strip`` strips every library, numpy's OpenBLAS included, which then fails
to load (its ELF was rewritten by auditwheel/patchelf). Here only ``.debug_*`` sections go, only
from libraries that carry more than ``MIN_DEBUG_BYTES`` of them, and only outside the folders
known to break; the frozen smoke test (tests/test_frozen.py) runs the result end to end.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

MIN_DEBUG_BYTES = 1_000_000
# libraries rewritten by patchelf in a way strip corrupts (seen with OpenBLAS)
NEVER_STRIP = ("numpy.libs",)


@dataclass(frozen=True)
class Stripped:
    path: Path
    before: int
    after: int


def debug_section_bytes(path: Path) -> int:
    """Total size of the ``.debug_*`` sections of a 64-bit little-endian ELF file (0 if not)."""
    try:
        with path.open("rb") as stream:
            header = stream.read(64)
            if len(header) < 64 or header[:4] != b"\x7fELF" or header[4] != 2 or header[5] != 1:
                return 0
            (section_offset,) = struct.unpack_from("<Q", header, 0x28)
            entry_size, count, names_index = struct.unpack_from("<HHH", header, 0x3A)
            stream.seek(section_offset)
            table = stream.read(entry_size * count)
            sections = [struct.unpack_from("<IIQQQQ", table, i * entry_size) for i in range(count)]
            if names_index >= len(sections):
                return 0
            names_offset, names_size = sections[names_index][4], sections[names_index][5]
            stream.seek(names_offset)
            names = stream.read(names_size)
    except (OSError, struct.error):
        return 0
    total = 0
    for name_at, _type, _flags, _addr, _offset, size in sections:
        name = names[name_at : names.find(b"\0", name_at)]
        if name.startswith(b".debug_"):
            total += size
    return total


def strip_debug_info(internal_dir: Path) -> list[Stripped]:
    strip = shutil.which("strip")
    if strip is None:
        print("== strip not found (binutils): debug sections stay in the bundle", flush=True)
        return []
    done: list[Stripped] = []
    for path in sorted(internal_dir.rglob("*.so*")):
        if path.is_symlink() or not path.is_file():
            continue
        if any(part in NEVER_STRIP for part in path.relative_to(internal_dir).parts):
            continue
        if debug_section_bytes(path) < MIN_DEBUG_BYTES:
            continue
        before = path.stat().st_size
        subprocess.run([strip, "--strip-debug", str(path)], check=True)
        done.append(Stripped(path, before, path.stat().st_size))
    saved = sum(item.before - item.after for item in done)
    print(f"== stripped debug sections from {len(done)} libraries: -{saved / 1e6:.0f} MB")
    return done

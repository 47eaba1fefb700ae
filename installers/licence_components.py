"""Components in the frozen sidecar that are not Python distributions of their own: the Python
runtime and the system libraries PyInstaller copies beside it, native libraries that wheels
vendor (``numpy.libs``, ``av.libs``, ...), data and models, and the livekit-server binary that
ships next to the sidecar. ``installers.licences`` lists each one whose files are in a bundle.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TextRef:
    """Where a licence text is: a file of an installed distribution (``distribution`` set), a
    file in ``installers/licence_texts`` (``distribution`` None), or the Python runtime's own
    LICENSE.txt (``distribution`` == PYTHON_RUNTIME)."""

    path: str
    distribution: str | None = None


PYTHON_RUNTIME = "<python>"


@dataclass(frozen=True)
class NativeComponent:
    name: str
    licence: str
    note: str
    # globs relative to the bundle's _internal folder; any match means the component is bundled.
    # Globs without "/" also name top-level entries that belong to no Python distribution.
    paths: tuple[str, ...]
    texts: tuple[TextRef, ...] = ()
    # the distribution that brings it: its version is shown, e.g. "(av 18.1.0)"
    bundled_by: str | None = None
    # reads the licence from the files themselves, where a build option decides it
    detect_licence: Callable[[Path], str | None] | None = None


_FFMPEG_LICENCES = {
    "LGPL version 2.1 or later": "LGPL-2.1-or-later",
    "LGPL version 3 or later": "LGPL-3.0-or-later",
    "GPL version 2 or later": "GPL-2.0-or-later",
    "GPL version 3 or later": "GPL-3.0-or-later",
    "nonfree and unredistributable": "LicenseRef-FFmpeg-nonfree",
}
_AVCODEC_GLOBS = ("av.libs/*avcodec*", "av/.dylibs/*avcodec*")


def ffmpeg_licence(internal_dir: Path) -> str | None:
    """FFmpeg's licence depends on its configure flags (--enable-gpl, --enable-version3), and
    libavcodec records the result as the string "libavcodec license: ..."."""
    for pattern in _AVCODEC_GLOBS:
        for library in sorted(internal_dir.glob(pattern)):
            found = re.search(rb"libavcodec license: ([ -~]+?)\x00", library.read_bytes())
            if found:
                text = found.group(1).decode("ascii")
                return _FFMPEG_LICENCES.get(text, text)
    return None


_GCC_RUNTIME_NOTE = (
    "GCC runtime library; the GCC Runtime Library Exception allows shipping it with software "
    "under any licence"
)
_NUMPY_LICENCE = TextRef("numpy-*.dist-info/licenses/LICENSE.txt", "numpy")
# the GPL-3.0 text; numpy's LICENSE.txt carries the GCC Runtime Library Exception
_GPL3 = TextRef("piper_tts-*.dist-info/licenses/COPYING", "piper-tts")
_PYAV = "av"
# CTranslate2's wheels carry no licence file (installers/licence_texts/README.md)
CTRANSLATE2_TEXT = TextRef("CTranslate2-MIT.txt")


def _debian_copyright(package: str) -> TextRef:
    """The copyright file of the Debian 12 package whose library Python's modules link."""
    return TextRef(f"debian-{package}-copyright.txt")


NATIVE_COMPONENTS: tuple[NativeComponent, ...] = (
    # -- the Python runtime and what PyInstaller copies from the build machine ---------------
    NativeComponent(
        "CPython runtime",
        "PSF-2.0",
        "the Python interpreter, its standard library and extension modules",
        ("base_library.zip", "python3*", "lib-dynload", "libpython3*", "Python", "python3*.dll"),
        (TextRef("LICENSE.txt", PYTHON_RUNTIME),),
    ),
    NativeComponent(
        "PyInstaller bootloader",
        "GPL-2.0-or-later WITH PyInstaller-bootloader-exception",
        "the voice-sidecar executable's start-up code; the exception allows distributing it "
        "with software under any licence",
        ("base_library.zip",),
        (TextRef("pyinstaller-*.dist-info/licenses/COPYING.txt", "pyinstaller"),),
        bundled_by="pyinstaller",
    ),
    NativeComponent(
        "OpenSSL",
        "Apache-2.0",
        "the ssl and hashlib modules' library",
        ("libssl*", "libcrypto*"),
        (TextRef("Apache-2.0.txt"),),
    ),
    NativeComponent(
        "zlib",
        "Zlib",
        "Python's zlib module",
        ("libz.so*", "libz.*.dylib", "zlib*.dll"),
        (_debian_copyright("zlib1g"),),
    ),
    NativeComponent(
        "bzip2",
        "bzip2-1.0.6",
        "Python's bz2 module",
        ("libbz2*",),
        (_debian_copyright("libbz2-1.0"),),
    ),
    NativeComponent(
        "XZ Utils (liblzma)",
        "LicenseRef-public-domain OR 0BSD",
        "Python's lzma module; liblzma is public domain up to XZ Utils 5.4, 0BSD from 5.6",
        ("liblzma*",),
        (_debian_copyright("liblzma5"),),
    ),
    NativeComponent(
        "libffi",
        "MIT",
        "Python's ctypes module",
        ("libffi*",),
        (_debian_copyright("libffi8"),),
    ),
    NativeComponent(
        "SQLite",
        "blessing",
        "Python's sqlite3 module (public domain)",
        ("libsqlite3*", "sqlite3.dll"),
        (_debian_copyright("libsqlite3-0"),),
    ),
    NativeComponent(
        "Expat",
        "MIT",
        "Python's XML parser",
        ("libexpat*",),
        (_debian_copyright("libexpat1"),),
    ),
    NativeComponent("mpdecimal", "BSD-2-Clause", "Python's decimal module", ("libmpdec*",)),
    NativeComponent(
        "libuuid",
        "BSD-3-Clause",
        "Python's uuid module",
        ("libuuid*",),
        (_debian_copyright("libuuid1"),),
    ),
    NativeComponent(
        "ncurses",
        "X11",
        "terminal handling used by readline/curses",
        ("libtinfo*", "libncurses*"),
        (_debian_copyright("libtinfo6"),),
    ),
    NativeComponent(
        "GNU Readline",
        "GPL-3.0-or-later",
        "copied because Python's readline module links it; the sidecar does not need it "
        "(exclude the readline module from the freeze)",
        ("libreadline*",),
        (_GPL3,),
    ),
    NativeComponent(
        "GCC runtime (libgcc_s, libstdc++)",
        "GPL-3.0-or-later WITH GCC-exception-3.1",
        _GCC_RUNTIME_NOTE,
        ("libgcc_s*", "libstdc++*"),
        (_NUMPY_LICENCE,),
    ),
    NativeComponent(
        "Microsoft Visual C++ runtime",
        "LicenseRef-Microsoft-VC-Redistributable",
        "redistributable under the Visual Studio licence terms",
        ("VCRUNTIME140*.dll", "MSVCP140*.dll", "ucrtbase.dll", "api-ms-win-*.dll", "concrt140.dll"),
    ),
    # -- numpy.libs ----------------------------------------------------------------------------
    NativeComponent(
        "OpenBLAS (scipy-openblas)",
        "BSD-3-Clause",
        "numpy's linear algebra library; text in numpy's LICENSE.txt",
        ("numpy.libs/*openblas*", "numpy/.dylibs/*openblas*"),
        (_NUMPY_LICENCE,),
        bundled_by="numpy",
    ),
    NativeComponent(
        "libgfortran",
        "GPL-3.0-or-later WITH GCC-exception-3.1",
        _GCC_RUNTIME_NOTE + "; text in numpy's LICENSE.txt",
        ("numpy.libs/libgfortran*", "numpy/.dylibs/libgfortran*"),
        (_NUMPY_LICENCE,),
        bundled_by="numpy",
    ),
    NativeComponent(
        "libquadmath",
        "LGPL-2.1-or-later",
        "GCC's quad-precision maths library, loaded by OpenBLAS; text in numpy's LICENSE.txt",
        ("numpy.libs/libquadmath*", "numpy/.dylibs/libquadmath*"),
        (_NUMPY_LICENCE,),
        bundled_by="numpy",
    ),
    # -- ctranslate2.libs ----------------------------------------------------------------------
    NativeComponent(
        "CTranslate2 library",
        "MIT",
        "faster-whisper's inference engine",
        (
            "ctranslate2.libs/*ctranslate2*",
            "ctranslate2/*ctranslate2*.dll",
            "ctranslate2/.dylibs/*",
        ),
        (CTRANSLATE2_TEXT,),
        bundled_by="ctranslate2",
    ),
    NativeComponent(
        "GNU OpenMP runtime (libgomp)",
        "GPL-3.0-or-later WITH GCC-exception-3.1",
        _GCC_RUNTIME_NOTE + "; CTranslate2's thread pool",
        ("ctranslate2.libs/libgomp*",),
        (_NUMPY_LICENCE,),
        bundled_by="ctranslate2",
    ),
    # -- av.libs: FFmpeg and the libraries PyAV's wheel builds it with -------------------------
    NativeComponent(
        "FFmpeg (libavcodec, libavformat, libavutil, ...)",
        "LGPL-2.1-or-later",
        "PyAV's audio/video libraries; the licence shown is the one libavcodec reports",
        (
            *_AVCODEC_GLOBS,
            "av.libs/*avformat*",
            "av.libs/*avutil*",
            "av.libs/*avdevice*",
            "av.libs/*avfilter*",
            "av.libs/*swresample*",
            "av.libs/*swscale*",
        ),
        (TextRef("LGPL-3.0.txt"), TextRef("LGPL-2.1.txt")),
        bundled_by=_PYAV,
        detect_licence=ffmpeg_licence,
    ),
    NativeComponent(
        "x264",
        "GPL-2.0-or-later",
        "H.264 encoder inside PyAV's FFmpeg build; GPL: the product must comply or drop it",
        ("av.libs/*x264*", "av/.dylibs/*x264*"),
        (TextRef("GPL-2.0.txt"),),
        bundled_by=_PYAV,
    ),
    NativeComponent(
        "x265",
        "GPL-2.0-or-later",
        "H.265 encoder inside PyAV's FFmpeg build; GPL: the product must comply or drop it",
        ("av.libs/*x265*", "av/.dylibs/*x265*"),
        (TextRef("GPL-2.0.txt"),),
        bundled_by=_PYAV,
    ),
    NativeComponent(
        "GnuTLS",
        "LGPL-2.1-or-later",
        "FFmpeg's TLS",
        ("av.libs/*gnutls*",),
        (TextRef("LGPL-2.1.txt"),),
        bundled_by=_PYAV,
    ),
    NativeComponent(
        "Nettle, GMP, libunistring",
        "LGPL-3.0-or-later OR GPL-2.0-or-later",
        "GnuTLS's crypto, bignum and Unicode libraries",
        ("av.libs/*nettle*", "av.libs/*hogweed*", "av.libs/*gmp*", "av.libs/*unistring*"),
        (TextRef("LGPL-3.0.txt"),),
        bundled_by=_PYAV,
    ),
    NativeComponent(
        "LAME",
        "LGPL-2.0-or-later",
        "MP3 encoder",
        ("av.libs/*mp3lame*",),
        (TextRef("LGPL-2.1.txt"),),
        bundled_by=_PYAV,
    ),
    NativeComponent(
        "alsa-lib",
        "LGPL-2.1-or-later",
        "Linux audio device access",
        ("av.libs/*asound*",),
        (TextRef("LGPL-2.1.txt"),),
        bundled_by=_PYAV,
    ),
    NativeComponent(
        "opencore-amr",
        "Apache-2.0",
        "AMR codecs",
        ("av.libs/*opencore-amr*",),
        (TextRef("Apache-2.0.txt"),),
        bundled_by=_PYAV,
    ),
    NativeComponent("Opus", "BSD-3-Clause", "audio codec", ("av.libs/*opus*",), bundled_by=_PYAV),
    NativeComponent(
        "libvpx", "BSD-3-Clause", "VP8/VP9 codec", ("av.libs/*vpx*",), bundled_by=_PYAV
    ),
    NativeComponent("dav1d", "BSD-2-Clause", "AV1 decoder", ("av.libs/*dav1d*",), bundled_by=_PYAV),
    NativeComponent(
        "SVT-AV1", "BSD-3-Clause-Clear", "AV1 encoder", ("av.libs/*SvtAv1*",), bundled_by=_PYAV
    ),
    NativeComponent(
        "libwebp",
        "BSD-3-Clause",
        "WebP codec",
        ("av.libs/*webp*", "av.libs/*sharpyuv*"),
        bundled_by=_PYAV,
    ),
    NativeComponent(
        "libxcb, libXau, libdrm",
        "MIT",
        "X11 screen capture and DRM access FFmpeg links",
        ("av.libs/*xcb*", "av.libs/*Xau*", "av.libs/*drm*"),
        bundled_by=_PYAV,
    ),
    NativeComponent(
        "oneVPL", "MIT", "Intel video acceleration", ("av.libs/*vpl*",), bundled_by=_PYAV
    ),
    # -- models, data and other native parts ---------------------------------------------------
    NativeComponent(
        "espeak-ng",
        "GPL-3.0-or-later",
        "Piper's phonemizer: compiled into piper's espeakbridge module with its espeak-ng-data; "
        "GPL: a closed product needs legal review or a replacement",
        ("piper/espeak-ng-data", "piper/espeakbridge*"),
        (_GPL3,),
        bundled_by="piper-tts",
    ),
    NativeComponent(
        "ONNX Runtime library",
        "MIT",
        "the inference library behind Silero VAD and Piper; its third-party notices are in "
        "onnxruntime's ThirdPartyNotices.txt",
        ("onnxruntime/capi/*onnxruntime*",),
        (
            TextRef("onnxruntime/LICENSE", "onnxruntime"),
            TextRef("onnxruntime/ThirdPartyNotices.txt", "onnxruntime"),
        ),
        bundled_by="onnxruntime",
    ),
    NativeComponent(
        "Silero VAD model",
        "MIT",
        "voice activity detection weights (silero_vad.onnx) in livekit-plugins-silero and "
        "faster-whisper",
        ("livekit/plugins/silero/resources/*.onnx", "faster_whisper/assets/*.onnx"),
        (TextRef("silero-vad-MIT.txt"),),
    ),
    NativeComponent(
        "LiveKit FFI library",
        "Apache-2.0",
        "livekit's native WebRTC client; its third-party notices are livekit's LICENSE.md",
        ("livekit/rtc/resources/*livekit_ffi*",),
        (TextRef("livekit/rtc/resources/LICENSE.md", "livekit"),),
        bundled_by="livekit",
    ),
)

LIVEKIT_SERVER = NativeComponent(
    "livekit-server",
    "Apache-2.0",
    "shipped beside the sidecar as binaries/livekit-server-<target-triple>",
    (),
    (TextRef("Apache-2.0.txt"),),
)

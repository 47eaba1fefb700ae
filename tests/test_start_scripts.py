"""scripts/start-voice.sh and scripts/start-voice.ps1: thin, the same step for step, and lint-clean.

The shell script is run for real in a copy of the repository's layout whose setup script and
``voice-sidecar`` are stand-ins that record how they were called. PowerShell is not on this
machine: its script is checked as text here (steps, the commands it runs, nothing that
Windows PowerShell 5.1 cannot parse), and parsed by PowerShell itself where it exists.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SH = ROOT / "scripts" / "start-voice.sh"
PS1 = ROOT / "scripts" / "start-voice.ps1"
SETUP = ROOT / "scripts" / "setup-dev.sh"


def _steps(text: str) -> list[str]:
    return re.findall(r"^\s*# (step \d+: .+)$", text, re.MULTILINE)


def test_both_scripts_take_the_same_steps() -> None:
    sh_steps = _steps(SH.read_text(encoding="utf-8"))
    assert len(sh_steps) == 3
    assert _steps(PS1.read_text(encoding="utf-8")) == sh_steps


def test_both_scripts_end_in_voice_sidecar_start_with_every_argument() -> None:
    assert 'exec .venv/bin/voice-sidecar start "$@"' in SH.read_text(encoding="utf-8")
    text = PS1.read_text(encoding="utf-8")
    assert "& $Sidecar start @args" in text
    assert "exit $LASTEXITCODE" in text


def _uv_version(text: str, pattern: str) -> str:
    match = re.search(pattern, text, re.MULTILINE)
    assert match, pattern
    return match.group(1)


def test_the_powershell_setup_mirrors_setup_dev_sh() -> None:
    setup = SETUP.read_text(encoding="utf-8")
    text = PS1.read_text(encoding="utf-8")
    assert _uv_version(text, r"^\$UvVersion = '([^']+)'") == _uv_version(
        setup, r'^UV_VERSION="([^"]+)"'
    )
    # the same commands, in the same order
    order = [
        "'-m', 'venv'",
        "'-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', \"uv==$UvVersion\"",
        "'--require-hashes', '-r', $Lock",
        "'--no-deps', '-e', $Root",
    ]
    positions = [text.index(piece) for piece in order]
    assert positions == sorted(positions)
    assert "@('-3.11')" in text  # the py launcher's Python 3.11 unless PYTHON names one
    for piece in ("-m venv .venv", '"uv==${UV_VERSION}"', "--require-hashes -r requirements.lock"):
        assert piece in setup, f"setup-dev.sh changed ({piece!r}): update start-voice.ps1 too"


@pytest.mark.parametrize(
    ("construct", "pattern"),
    [
        ("the && and || pipeline chain operators (PowerShell 7 only)", r"&&|\|\|"),
        ("the ?? and ??= null-coalescing operators (PowerShell 7 only)", r"\?\?"),
        ("the ?. null-conditional member access (PowerShell 7 only)", r"\?\.|\?\["),
        ("the ternary operator (PowerShell 7 only)", r"\s\?\s[^:\n]+\s:\s"),
        ("the clean block (PowerShell 7.3 only)", r"^\s*clean\s*\{"),
    ],
)
def test_the_powershell_script_runs_on_windows_powershell_5_1(construct: str, pattern: str) -> None:
    code = "\n".join(
        line
        for line in PS1.read_text(encoding="utf-8").splitlines()
        if not line.lstrip().startswith("#")
    )
    code = re.sub(r"<#.*?#>", "", code, flags=re.DOTALL)  # the help block is prose
    assert not re.search(pattern, code, re.MULTILINE), f"uses {construct}"


def test_the_powershell_script_is_plain_ascii_and_quotes_its_paths() -> None:
    data = PS1.read_bytes()
    assert data.isascii(), "Windows PowerShell 5.1 reads a file without a BOM as ANSI"
    text = data.decode()
    assert "Set-Location -LiteralPath $Root" in text
    # every path comes from a variable (passed as one argument, spaces and all), none is spliced
    # into a string that PowerShell would split
    assert not re.search(r"&\s+\"[^\"]*\$", text)
    assert "ExecutionPolicy" in text  # the guidance for a first run


@pytest.mark.powershell
def test_powershell_parses_the_script() -> None:
    shell = shutil.which("pwsh") or shutil.which("powershell")
    assert shell is not None
    command = (
        "$errors = $null; "
        f"[void][System.Management.Automation.Language.Parser]::ParseFile('{PS1}', "
        "[ref]$null, [ref]$errors); "
        "if ($errors) { $errors | ForEach-Object { $_.ToString() }; exit 1 }"
    )
    result = subprocess.run(
        [shell, "-NoProfile", "-NonInteractive", "-Command", command],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- the shell script, for real --------------------------------------------------------------


def test_shellcheck_finds_nothing() -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (.ci/run installs it with apt-get)")
    result = subprocess.run(
        [shellcheck, "--severity=style", str(SH), str(SETUP)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


_FAKE_SETUP = """#!/usr/bin/env bash
# stands in for scripts/setup-dev.sh: makes a .venv whose voice-sidecar records its arguments
set -euo pipefail
cd "$(dirname "$0")/.."
echo "setup with $PYTHON" >> calls.log
mkdir -p .venv/bin
cat > .venv/bin/voice-sidecar <<'EOF'
#!/usr/bin/env bash
printf '%s\\n' "$@" > "$(dirname "$0")/../../args.txt"
echo "voice-sidecar ran" >> "$(dirname "$0")/../../calls.log"
exit 7
EOF
chmod +x .venv/bin/voice-sidecar
"""


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A copy of the layout the script relies on, in a folder whose name has spaces."""
    root = tmp_path / "my clone with spaces"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(SH, root / "scripts" / "start-voice.sh")
    (root / "scripts" / "setup-dev.sh").write_text(_FAKE_SETUP, encoding="utf-8")
    (root / "scripts" / "setup-dev.sh").chmod(0o755)
    (root / "requirements.lock").write_text("# lock\n", encoding="utf-8")
    (root / "pyproject.toml").write_text("# project\n", encoding="utf-8")
    return root


def _run(clone: Path, *args: str, python: str = sys.executable) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(clone / "scripts" / "start-voice.sh"), *args],
        cwd="/",
        env={**os.environ, "PYTHON": python},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _calls(clone: Path) -> list[str]:
    return (clone / "calls.log").read_text(encoding="utf-8").splitlines()


def test_the_shell_script_sets_up_once_then_passes_every_argument_through(clone: Path) -> None:
    args = ["--stt-device", "cpu", "--persona", '{"name": "Ada Lovelace"}', "--set", "a=b c"]
    first = _run(clone, *args)
    assert first.returncode == 7, first.stderr  # voice-sidecar's exit code is the script's
    assert _calls(clone) == [f"setup with {sys.executable}", "voice-sidecar ran"]
    assert (clone / "args.txt").read_text(encoding="utf-8").splitlines() == ["start", *args]
    # .venv is up to date: no setup the second time
    assert _run(clone).returncode == 7
    assert _calls(clone)[2:] == ["voice-sidecar ran"]
    # a newer lock file sets it up again
    stamp = clone / ".venv" / ".start-voice-stamp"
    os.utime(stamp, (1_000_000_000, 1_000_000_000))
    assert _run(clone).returncode == 7
    assert _calls(clone)[3:] == [f"setup with {sys.executable}", "voice-sidecar ran"]


def test_the_shell_script_wants_python_3_11_before_setting_up(clone: Path, tmp_path: Path) -> None:
    old = tmp_path / "python3.9"
    old.write_text("#!/bin/sh\nexit 1\n", encoding="utf-8")  # sys.version_info < (3, 11)
    old.chmod(0o755)
    result = _run(clone, python=str(old))
    assert result.returncode == 2
    assert "Python 3.11 or newer is needed" in result.stderr
    assert not (clone / "calls.log").exists()


# -- setup-dev.sh, for real, with a stand-in Python ---------------------------------------------

_FAKE_PYTHON = """#!/usr/bin/env bash
# stands in for a Python: passes the version check unless OLD is set, makes a .venv of stubs
log="$(pwd)/calls.log"
if [ "$1" = "-c" ]; then [ -z "${OLD:-}" ]; exit; fi
if [ "$1" = "-m" ] && [ "$2" = "venv" ]; then
    mkdir -p "$3/bin"
    cp "$0" "$3/bin/python"
    printf '#!/usr/bin/env bash\\necho "uv $*" >> "%s"\\n' "$log" > "$3/bin/uv"
    stub="$3/bin/voice-sidecar"
    printf '#!/usr/bin/env bash\\n' > "$stub"
    printf 'if [ "$1" = --version ]; then echo "voice-sidecar 0"; exit; fi\\n' >> "$stub"
    printf 'echo "voice-sidecar ran" >> "%s"\\n' "$log" >> "$stub"
    chmod +x "$3/bin/uv" "$stub"
    echo "venv" >> "$log"
fi
"""


@pytest.fixture
def real_setup_clone(clone: Path, tmp_path: Path) -> tuple[Path, Path]:
    shutil.copy2(SETUP, clone / "scripts" / "setup-dev.sh")
    python = tmp_path / "python3"
    python.write_text(_FAKE_PYTHON, encoding="utf-8")
    python.chmod(0o755)
    return clone, python


def _setup(clone: Path, python: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(clone / "scripts" / "setup-dev.sh")],
        cwd=clone,
        env={**os.environ, "PYTHON": str(python), **env},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_setup_dev_wants_python_3_11_before_creating_anything(
    real_setup_clone: tuple[Path, Path],
) -> None:
    """Issue 15.18: on Python 3.10 setup-dev.sh ended in a resolver error and a half-built
    .venv."""
    clone, python = real_setup_clone
    result = _setup(clone, python, OLD="1")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "setup-dev: Python 3.11 or newer is needed; install it, or set PYTHON to one"
    )
    assert not (clone / ".venv").exists()


def test_start_voice_after_setup_dev_does_not_set_up_again(
    real_setup_clone: tuple[Path, Path],
) -> None:
    """Issue 15.18: the first start-voice.sh after setup-dev.sh set everything up again."""
    clone, python = real_setup_clone
    assert _setup(clone, python).returncode == 0
    set_up = _calls(clone)
    assert set_up[0] == "venv"
    assert _run(clone, python=str(python)).returncode == 0
    assert _calls(clone) == [*set_up, "voice-sidecar ran"]

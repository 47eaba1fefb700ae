<#
.SYNOPSIS
Start the whole voice backend from a fresh clone (Windows): one command.

.DESCRIPTION
    scripts\start-voice.ps1 [voice-sidecar start options]
    scripts\start-voice.ps1 --stt-device cuda --stt-model small.en --persona persona.json

Every option goes to 'voice-sidecar start' unchanged (its --help lists them); all the logic
(the Nebius key prompt, fetching livekit-server, the readable output, stopping on Ctrl+C)
lives there, tested in Python. scripts/start-voice.sh is the same, step for step, on Linux
and macOS: a change here is a change there (tests/test_start_scripts.py compares the steps).
Works in Windows PowerShell 5.1 and PowerShell 7; plain ASCII on purpose (5.1 reads a file
without a byte-order mark in the ANSI code page).

Execution policy: Windows does not run downloaded scripts by default. Either run it once
without changing any setting:
    powershell -NoProfile -ExecutionPolicy Bypass -File scripts\start-voice.ps1
or allow local scripts for your user, then run scripts\start-voice.ps1 as usual:
    Set-ExecutionPolicy -Scope CurrentUser RemoteSigned
A clone unpacked from a downloaded zip is marked as from the internet: Unblock-File it first.
With Windows PowerShell 5.1, give --persona a file rather than inline JSON (5.1 drops the
double quotes inside arguments of programs it starts).
#>

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 2.0

$Root = Split-Path -Parent $PSScriptRoot
Set-Location -LiteralPath $Root
$UvVersion = '0.13.9'  # the same as UV_VERSION in scripts/setup-dev.sh
$Venv = Join-Path $Root '.venv'
$VenvPython = Join-Path $Venv 'Scripts\python.exe'
$Uv = Join-Path $Venv 'Scripts\uv.exe'
$Sidecar = Join-Path $Venv 'Scripts\voice-sidecar.exe'
$Stamp = Join-Path $Venv '.start-voice-stamp'
$Lock = Join-Path $Root 'requirements.lock'
$Project = Join-Path $Root 'pyproject.toml'

function Invoke-Checked {
    param([string]$What, [string]$Program, [string[]]$Arguments)
    & $Program @Arguments
    if ($LASTEXITCODE -ne 0) {
        throw "start-voice: $What failed (exit code $LASTEXITCODE)"
    }
}

# step 1: is .venv missing, or older than requirements.lock or pyproject.toml?
$Setup = $false
if (-not (Test-Path -LiteralPath $Sidecar) -or -not (Test-Path -LiteralPath $Stamp)) {
    $Setup = $true
} else {
    $StampTime = (Get-Item -LiteralPath $Stamp).LastWriteTimeUtc
    if ((Get-Item -LiteralPath $Lock).LastWriteTimeUtc -gt $StampTime) {
        $Setup = $true
    }
    if ((Get-Item -LiteralPath $Project).LastWriteTimeUtc -gt $StampTime) {
        $Setup = $true
    }
}

# step 2: if so, create or refresh it from requirements.lock (Python 3.11 or newer)
if ($Setup) {
    if ($env:PYTHON) {
        $Python = $env:PYTHON
        $PythonArgs = @()
    } else {
        $Python = 'py'
        $PythonArgs = @('-3.11')
    }
    $PythonOk = $false
    try {
        & $Python @PythonArgs -c 'import sys; sys.exit(sys.version_info < (3, 11))'
        $PythonOk = ($LASTEXITCODE -eq 0)
    } catch {
        $PythonOk = $false
    }
    if (-not $PythonOk) {
        [Console]::Error.WriteLine('start-voice: Python 3.11 or newer is needed; install it (the py launcher comes with it), or set PYTHON to its python.exe')
        exit 2
    }
    if (-not (Test-Path -LiteralPath $VenvPython)) {
        Invoke-Checked 'creating .venv' $Python ($PythonArgs + @('-m', 'venv', $Venv))
    }
    Invoke-Checked 'installing uv' $VenvPython @('-m', 'pip', 'install', '--quiet', '--disable-pip-version-check', "uv==$UvVersion")
    # hash-checked install of exactly what the lock file names
    Invoke-Checked 'installing requirements.lock' $Uv @('pip', 'install', '--quiet', '--python', $VenvPython, '--require-hashes', '-r', $Lock)
    Invoke-Checked 'installing voice-sidecar' $Uv @('pip', 'install', '--quiet', '--python', $VenvPython, '--no-deps', '-e', $Root)
    Set-Content -LiteralPath $Stamp -Value 'set up by scripts/start-voice.ps1'
}

# step 3: the key, livekit-server, then the stack in the foreground (Ctrl+C stops everything)
& $Sidecar start @args
exit $LASTEXITCODE

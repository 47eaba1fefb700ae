"""The release workflow (.github/workflows/release.yml), checked without GitHub: the workflow
schema SchemaStore publishes, then what a schema cannot know: that every matrix target is a
triple installers.targets names the binaries after, that the build and smoke steps run the
real commands, least-privilege permissions, pinned actions, no secrets in shell command lines,
and shellcheck on every bash script the steps run."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from installers.targets import build_host, host_target_triple, target_for_triple

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ROOT / ".github" / "workflows" / "release.yml"
SCHEMA = Path(__file__).parent / "schemas" / "github-workflow.json"
SCHEMA_SHA256 = "d10c9f4656e1bd5bc6727e9b35080e017dc167154726fca93da33c7a6bd1c4f3"
FULL_SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
# runs-on label prefix -> HostPlatform.os of the targets that runner builds
RUNNER_SYSTEMS = {"ubuntu": "linux", "windows": "windows", "macos": "darwin"}


class _Yaml12Loader(yaml.SafeLoader):
    """Reads booleans as YAML 1.2 (and GitHub) do: PyYAML's 1.1 rules would turn `on:` into True."""


_Yaml12Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|false)$"), list("tf")
)


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = yaml.load(WORKFLOW.read_text(encoding="utf-8"), Loader=_Yaml12Loader)  # noqa: S506
    assert isinstance(data, dict)
    return data


def _jobs(workflow: dict[str, Any]) -> dict[str, dict[str, Any]]:
    jobs = workflow["jobs"]
    assert isinstance(jobs, dict)
    return jobs


def _steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, step) for name, job in _jobs(workflow).items() for step in job["steps"]]


def _run_steps(workflow: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(job, step) for job, step in _steps(workflow) if "run" in step]


def _step_named(workflow: dict[str, Any], name: str) -> dict[str, Any]:
    matches = [step for _, step in _steps(workflow) if step.get("name") == name]
    assert len(matches) == 1, f"expected one step named {name!r}"
    return matches[0]


def _matrix(workflow: dict[str, Any]) -> list[dict[str, str]]:
    include = _jobs(workflow)["build"]["strategy"]["matrix"]["include"]
    assert isinstance(include, list)
    return include


def _validation_errors(schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


# -- the schema ------------------------------------------------------------------------------


def test_the_vendored_schema_is_the_published_one() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256


def test_workflow_is_valid_against_the_github_workflow_schema(workflow: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    errors = _validation_errors(schema, workflow)
    assert not errors, "\n".join(errors)


def test_the_schema_check_catches_mistakes(workflow: dict[str, Any]) -> None:
    """The validation above is not vacuous: a misspelt key or a wrong type fails it."""
    import copy

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    misspelt = copy.deepcopy(workflow)
    misspelt["jobs"]["build"]["runs_on"] = misspelt["jobs"]["build"].pop("runs-on")
    wrong_type = copy.deepcopy(workflow)
    wrong_type["jobs"]["build"]["timeout-minutes"] = {"minutes": 60}
    assert _validation_errors(schema, misspelt)
    assert _validation_errors(schema, wrong_type)


# -- what the schema cannot know -------------------------------------------------------------


@pytest.mark.parametrize(
    ("system", "machine", "triple"),
    [
        ("Linux", "x86_64", "x86_64-unknown-linux-gnu"),
        ("Windows", "AMD64", "x86_64-pc-windows-msvc"),
        ("Darwin", "arm64", "aarch64-apple-darwin"),
        ("Linux", "aarch64", "aarch64-unknown-linux-gnu"),
    ],
)
def test_the_build_host_names_its_target(system: str, machine: str, triple: str) -> None:
    assert host_target_triple(system, machine) == triple


def test_an_unsupported_build_host_is_refused_not_misnamed() -> None:
    with pytest.raises(ValueError, match="no release target for linux-riscv64"):
        build_host("Linux", "riscv64")


def test_runs_on_tag_pushes_and_by_hand(workflow: dict[str, Any]) -> None:
    assert workflow["on"]["push"] == {"tags": ["v*"]}
    assert "workflow_dispatch" in workflow["on"]


def test_every_matrix_target_is_a_triple_the_build_names_binaries_after(
    workflow: dict[str, Any],
) -> None:
    for entry in _matrix(workflow):
        target = entry["target"]
        system = RUNNER_SYSTEMS[entry["os"].split("-")[0]]
        host = target_for_triple(target)
        assert host is not None, f"{target} is not in installers.targets.RELEASE_TARGETS"
        assert host.os == system, f"{target} cannot be built on {entry['os']}"
        # the smoke step runs voice-sidecar-$TARGET$EXE
        assert f"voice-sidecar-{target}{entry['exe']}" == host.sidecar_name("voice-sidecar")
        expected_python = ".venv/Scripts/python.exe" if system == "windows" else ".venv/bin/python"
        assert entry["venv-python"] == expected_python


def test_windows_linux_and_apple_silicon_are_built(workflow: dict[str, Any]) -> None:
    targets = {entry["target"] for entry in _matrix(workflow)}
    assert {
        "x86_64-pc-windows-msvc",
        "x86_64-unknown-linux-gnu",
        "aarch64-apple-darwin",
    } <= targets


def test_the_build_step_runs_the_build_module(workflow: dict[str, Any]) -> None:
    build = _step_named(workflow, "Build")["run"]
    assert re.search(r'"\$VENV_PYTHON" -m installers\.build --tauri-dir "\$TAURI_DIR"', build)
    setup = _step_named(workflow, "Python environment from requirements.lock")
    assert setup["run"].strip() == "bash scripts/setup-dev.sh"
    python = next(step for _, step in _steps(workflow) if step.get("id") == "python")
    assert python["with"]["python-version"] == "3.11"


def test_the_smoke_step_runs_version_and_doctor(workflow: dict[str, Any]) -> None:
    smoke = _step_named(workflow, "Smoke test of the frozen sidecar")["run"]
    assert 'sidecar="$TAURI_DIR/binaries/voice-sidecar-$TARGET$EXE"' in smoke
    assert '"$sidecar" --version' in smoke
    assert '"$sidecar" doctor --json' in smoke


def test_permissions_are_least_privilege(workflow: dict[str, Any]) -> None:
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in _jobs(workflow).items():
        granted = job.get("permissions", {})
        if name == "release":
            assert granted == {"contents": "write"}
            assert job["if"] == "startsWith(github.ref, 'refs/tags/v')"
        else:
            assert granted == {}, f"job {name} asks for {granted}"


def test_every_job_has_a_timeout_and_runs_are_serialised(workflow: dict[str, Any]) -> None:
    assert "github.ref" in workflow["concurrency"]["group"]
    for name, job in _jobs(workflow).items():
        assert 0 < job["timeout-minutes"] <= 90, name


def test_every_action_is_pinned_to_a_commit(workflow: dict[str, Any]) -> None:
    uses = [step["uses"] for _, step in _steps(workflow) if "uses" in step]
    assert uses
    for action in uses:
        assert FULL_SHA_PIN.match(action), f"{action} is not pinned to a full commit SHA"
    # each pin carries the version it stands for, for whoever updates it
    for line in WORKFLOW.read_text(encoding="utf-8").splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_checkout_does_not_leave_the_token_in_the_repository(workflow: dict[str, Any]) -> None:
    for _, step in _steps(workflow):
        if step.get("uses", "").startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False


def test_no_expression_is_expanded_into_a_command_line(workflow: dict[str, Any]) -> None:
    """Secrets and tag names reach scripts through env: only; an expression inside run: would be
    pasted into the script before bash parses it (a secret in the log, or script injection)."""
    for job, step in _run_steps(workflow):
        assert "${{" not in step["run"], f"{job}: {step.get('name')}: expression in run:"
    text = WORKFLOW.read_text(encoding="utf-8")
    assert "secrets." not in text, "the release uses github.token, which needs no secret"


# -- shellcheck ------------------------------------------------------------------------------


def _effective_shell(workflow: dict[str, Any], job: str, step: dict[str, Any]) -> str | None:
    for scope in (step, _jobs(workflow)[job].get("defaults", {}).get("run", {})):
        if "shell" in scope:
            return str(scope["shell"])
    shell = workflow.get("defaults", {}).get("run", {}).get("shell")
    return None if shell is None else str(shell)


def test_every_run_step_is_bash(workflow: dict[str, Any]) -> None:
    """One shell on every runner: Windows would otherwise run these scripts in PowerShell."""
    for job, step in _run_steps(workflow):
        assert _effective_shell(workflow, job, step) == "bash", step.get("name")


def test_shellcheck_finds_nothing_in_the_run_scripts(
    workflow: dict[str, Any], tmp_path: Path
) -> None:
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (.ci/run installs it with apt-get)")
    scripts = []
    for index, (job, step) in enumerate(_run_steps(workflow)):
        script = tmp_path / f"{index:02d}-{job}.sh"
        # GitHub runs bash steps as `bash --noprofile --norc -eo pipefail {0}`
        script.write_text("#!/usr/bin/env bash\nset -eo pipefail\n" + step["run"], encoding="utf-8")
        scripts.append(str(script))
    result = subprocess.run(
        [shellcheck, "--severity=style", *scripts],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# -- the example app -------------------------------------------------------------------------

EXAMPLE_APP = ROOT / "desktop-integration" / "example-app"


def _example_job(workflow: dict[str, Any]) -> dict[str, Any]:
    job = _jobs(workflow)["example-app"]
    assert isinstance(job, dict)
    return job


def _example_step(workflow: dict[str, Any], name: str) -> str:
    (step,) = [s for s in _example_job(workflow)["steps"] if s.get("name") == name]
    return str(step["run"])


def test_the_example_app_is_built_for_windows_and_macos_from_the_build_jobs_archives(
    workflow: dict[str, Any],
) -> None:
    job = _example_job(workflow)
    assert job["needs"] == "build"
    built = {entry["target"]: entry for entry in _matrix(workflow)}
    targets = {entry["target"]: entry for entry in job["strategy"]["matrix"]["include"]}
    assert set(targets) == {"x86_64-pc-windows-msvc", "aarch64-apple-darwin"}
    for target, entry in targets.items():
        # the same runner and suffix as the build job that made the archive
        assert entry["os"] == built[target]["os"]
        assert entry["exe"] == built[target]["exe"]
    (download,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/download-")]
    assert download["with"]["name"] == "voice-sidecar-${{ matrix.target }}"
    upload = _step_named(workflow, "Archive binaries and resources")["run"]
    unpack = _example_step(workflow, "Unpack the frozen sidecar")
    # the archive names the build job writes are the ones unpacked
    assert 'archive="release/voice-sidecar-$TARGET.zip"' in upload
    assert '"release/voice-sidecar-$TARGET.zip"' in unpack
    assert 'archive="release/voice-sidecar-$TARGET.tar.gz"' in upload
    assert '"release/voice-sidecar-$TARGET.tar.gz"' in unpack


def test_the_example_app_job_runs_the_build_script_on_the_unpacked_sidecar(
    workflow: dict[str, Any],
) -> None:
    job = _example_job(workflow)
    assert job["env"]["EXAMPLE_APP_FROZEN_DIR"] == "frozen"
    assert "$EXAMPLE_APP_FROZEN_DIR" in _example_step(workflow, "Unpack the frozen sidecar")
    build = _example_step(workflow, "Build the example app")
    assert build.strip() == "bash scripts/build-example-app.sh --release --bundle"
    script = (ROOT / "scripts" / "build-example-app.sh").read_text(encoding="utf-8")
    for variable in ("EXAMPLE_APP_FROZEN_DIR", "EXAMPLE_APP_TARGET_DIR"):
        assert variable in script
    # the bundles are uploaded from where the script's Rust target folder is
    (upload,) = [s for s in job["steps"] if s.get("uses", "").startswith("actions/upload-")]
    assert upload["with"]["path"] == job["env"]["EXAMPLE_APP_TARGET_DIR"] + "/release/bundle/"
    check = _example_step(workflow, "The app's layout starts the sidecar")
    assert '"$out/voice-sidecar$EXE" --version' in check
    assert "voice-example-app.app/Contents/MacOS/voice-sidecar" in check


def test_the_example_app_job_installs_the_pinned_toolchain(
    workflow: dict[str, Any], tmp_path: Path
) -> None:
    """The step reads the channel out of rust-toolchain.toml: run its sed here on the file."""
    step = _example_step(workflow, "Rust toolchain of the example app")
    line = next(ln for ln in step.splitlines() if ln.strip().startswith("channel="))
    script = tmp_path / "channel.sh"
    script.write_text(line.strip() + '\nprintf %s "$channel"\n', encoding="utf-8")
    channel = subprocess.run(
        [str(shutil.which("bash")), str(script)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    toolchain = (EXAMPLE_APP / "src-tauri" / "rust-toolchain.toml").read_text(encoding="utf-8")
    assert re.search(r'^channel = "(\d+\.\d+\.\d+)"$', toolchain, re.M)
    assert f'channel = "{channel}"' in toolchain
    assert 'rustup toolchain install "$channel"' in step

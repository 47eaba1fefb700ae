"""``voice-sidecar doctor``: what this machine has, what would be chosen and why, what is wrong.

Every problem comes with its fix. The checks are small functions of facts
(ports, paths, environment) so they can be tested one by one; ``run_doctor``
gathers the facts and prints the report. Exit code 1 when any check found a
problem, 0 otherwise (warnings included).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from voice_sidecar.errors import UserFacingError
from voice_sidecar.livekit_server.locate import (
    ENV_VARIABLE as LIVEKIT_ENV,
)
from voice_sidecar.livekit_server.locate import (
    LiveKitNotFoundError,
    find_livekit_server,
)
from voice_sidecar.models.catalog import Catalog, ModelKind, load_catalog
from voice_sidecar.models.locate import looks_like_path
from voice_sidecar.models.store import ModelStore
from voice_sidecar.paths import default_bin_dir
from voice_sidecar.plugins.device import (
    HardwareDecision,
    HardwareFacts,
)
from voice_sidecar.ports import bind_problem, holder_of, port_needs
from voice_sidecar.settings import PortSettings, Settings

from .common import model_paths
from .context import CommandContext

Status = Literal["ok", "warning", "problem", "skipped"]


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str | None = None


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "doctor", help="check this machine: GPU, models, livekit-server, ports, keyring"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable report")
    parser.add_argument(
        "--no-load-test",
        action="store_true",
        help="do not load a Whisper model on the GPU to confirm CUDA works",
    )
    parser.set_defaults(handler=_handle)


add_doctor_parser = add_parser


# --- checks: facts in, Check out --------------------------------------------------------


def check_ports(ports: PortSettings) -> list[Check]:
    checks = []
    for need in port_needs(ports):
        name = f"port {need.port}/{need.protocol} ({need.purpose})"
        problem = bind_problem(need.port, need.protocol)
        if problem is None:
            checks.append(Check(name, "ok", "free on 127.0.0.1"))
            continue
        holder = holder_of(need.port, need.protocol)
        checks.append(
            Check(
                name,
                "problem",
                f"cannot be bound on 127.0.0.1: {problem}"
                + (f" (held by {holder})" if holder else ""),
                "stop the program that uses it (another voice-sidecar or livekit-server?) "
                f"or choose another port: --set {need.setting}=PORT",
            )
        )
    return checks


def check_livekit_server(environ: Mapping[str, str], *, cache_bin_dir: Path) -> Check:
    """The same lookup ``up`` uses (beside the executable, LIVEKIT_SERVER_BIN, cache, PATH)."""
    try:
        found = find_livekit_server(environ=environ, cache_bin_dir=cache_bin_dir)
    except LiveKitNotFoundError as exc:
        misconfigured = LIVEKIT_ENV in str(exc) and "points at" in str(exc)
        return Check(
            "livekit-server",
            "problem" if misconfigured else "warning",
            str(exc).split(";")[0]
            + ("" if misconfigured else " (needed by `voice-sidecar up`, not by converse)"),
            str(exc).split(";", 1)[1].strip() if ";" in str(exc) else None,
        )
    return Check("livekit-server", "ok", f"{found.path} ({found.how})")


def check_keyring(context: CommandContext) -> Check:
    """Hook for the settings/keyring feature: whether an OS keyring backend works.

    Its owner may extend this (e.g. a round trip of a test entry); doctor only
    reports what ``SecretStore.backend_name`` says.
    """
    try:
        backend = context.store.backend_name()
    except UserFacingError as exc:
        return Check("keyring", "warning", str(exc), "see `voice-sidecar key --help`")
    return Check("keyring", "ok", backend)


def check_models(settings: Settings, store: ModelStore, decision: HardwareDecision) -> list[Check]:
    """Are the models the settings (and the decision) name installed, or can they be fetched?"""
    offline = settings.models.offline
    wanted: list[tuple[str, ModelKind, str]] = [
        ("speech recognition", "whisper", decision.model or settings.stt.model),
        ("speech synthesis", "piper", settings.tts.voice),
    ]
    checks = []
    for what, kind, name in wanted:
        label = f"{what} model {name}"
        if looks_like_path(name):
            exists = Path(name).expanduser().exists()
            status: Status = "ok" if exists else "problem"
            checks.append(Check(label, status, "a path" if exists else f"{name} does not exist"))
            continue
        model = store.catalog.get(name, kind)
        if model is None:
            checks.append(
                Check(label, "warning", "not in the catalog; it must be installed by hand")
            )
            continue
        found = store.find(model, join_parts=False)
        if found is not None:
            checks.append(Check(label, "ok", f"installed ({found.source}: {found.path})"))
        elif store.state(model) == "partial":
            checks.append(
                Check(
                    label,
                    "warning",
                    "an earlier download was interrupted",
                    f"voice-sidecar models pull {name} (it resumes)",
                )
            )
        elif offline:
            checks.append(
                Check(
                    label,
                    "problem",
                    "not installed, and models.offline forbids fetching it",
                    f"turn models.offline off once, or run voice-sidecar models pull {name}",
                )
            )
        else:
            size = model.total_size
            amount = f"{size / 1e6:.0f} MB" if size else "its files"
            checks.append(
                Check(
                    label,
                    "warning",
                    f"not installed yet: fetched on first use ({amount})",
                    f"voice-sidecar models pull {name}",
                )
            )
    return checks


# --- the report -------------------------------------------------------------------------


def machine_summary(facts: HardwareFacts) -> dict[str, Any]:
    return {
        "os": f"{platform.system()} {platform.release()}",
        "arch": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": facts.cpu_count,
        "ram_mb": facts.ram_mb,
        "available_ram_mb": facts.available_ram_mb,
        "frozen": bool(getattr(sys, "frozen", False)),
    }


def decide(settings: Settings, facts: HardwareFacts, catalog: Catalog) -> HardwareDecision:
    from voice_sidecar.runtime import hardware_decision

    return hardware_decision(settings, facts, catalog)


def cuda_load_check(settings: Settings, decision: HardwareDecision, store: ModelStore) -> Check:
    """Load the smallest installed Whisper model with the decision's device and run it once."""
    from voice_sidecar.plugins.whisper import WhisperEngine

    installed = [m for m in store.installed(join_parts=True) if m.kind == "whisper"]
    if not installed:
        return Check("CUDA load test", "skipped", "no Whisper model is installed to try")
    smallest = min(installed, key=lambda m: (m.path / "model.bin").stat().st_size)
    try:
        engine = WhisperEngine.load(
            smallest.path, name=smallest.name, choice=decision.device_choice()
        )
        try:
            engine.warm_up()
        finally:
            engine.close()
    except UserFacingError as exc:
        return Check("CUDA load test", "problem", str(exc))
    choice = engine.device_choice
    if choice.device != "cuda":
        return Check(
            "CUDA load test",
            "problem",
            f"{smallest.name} fell back to the CPU: {choice.reason}",
            "install the CUDA 12 libraries (cuBLAS, cuDNN 9) or set stt.device=cpu",
        )
    return Check(
        "CUDA load test", "ok", f"{smallest.name} ran on {choice.device}/{choice.compute_type}"
    )


def build_report(
    context: CommandContext,
    facts: HardwareFacts,
    *,
    load_test: bool,
    keyring: Callable[[CommandContext], Check] = check_keyring,
) -> dict[str, Any]:
    settings = context.settings
    paths = model_paths(settings)
    store = ModelStore(
        paths.models_dir,
        catalog=load_catalog(),
        cache_dir=paths.cache_dir,
        bundled_dir=paths.bundled_dir,
    )
    decision = decide(settings, facts, store.catalog)
    checks = [
        *check_models(settings, store, decision),
        check_livekit_server(context.environ, cache_bin_dir=default_bin_dir()),
        *check_ports(settings.ports),
        keyring(context),
    ]
    if decision.device == "cuda" and load_test:
        checks.append(cuda_load_check(settings, decision, store))
    for fix in decision.fixes:
        checks.append(Check("GPU", "warning", decision.reason, fix))
    installed = store.installed()
    return {
        "machine": machine_summary(facts),
        "gpu": {
            "cuda_devices": facts.cuda_device_count,
            "name": facts.gpu_name,
            "free_vram_mb": facts.free_vram_mb,
            "total_vram_mb": facts.total_vram_mb,
            "cublas_loads": facts.cublas_loads if facts.cuda_device_count else None,
            "cudnn_loads": facts.cudnn_loads if facts.cuda_device_count else None,
            "library_error": facts.cuda_library_error,
        },
        "decision": {
            "device": decision.device,
            "compute_type": decision.compute_type,
            "model": decision.model,
            "reason": decision.reason,
            "vram_budget_mb": settings.models.vram_budget_mb,
        },
        "models_dir": str(store.root),
        "offline": settings.models.offline,
        "mirror": settings.models.mirror_url,
        "installed_models": [
            {"name": m.name, "kind": m.kind, "source": m.source, "path": str(m.path)}
            for m in installed
        ],
        "checks": [asdict(c) for c in checks],
        "ok": not any(c.status == "problem" for c in checks),
    }


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value / 1024:.1f} GB"


def print_report(report: dict[str, Any]) -> None:
    m, g, d = report["machine"], report["gpu"], report["decision"]
    print(
        f"machine: {m['os']} {m['arch']}, Python {m['python']}, {m['cpu_count']} CPU cores, "
        f"RAM {_mb(m['ram_mb'])} ({_mb(m['available_ram_mb'])} available)"
    )
    if g["cuda_devices"]:
        print(
            f"GPU: {g['name'] or 'CUDA device'} x{g['cuda_devices']}, "
            f"{_mb(g['free_vram_mb'])} free of {_mb(g['total_vram_mb'])}"
        )
    else:
        print("GPU: no CUDA device")
    print(f"speech recognition would run: {d['model']} on {d['device']}/{d['compute_type']}")
    print(f"  because: {d['reason']}")
    print(f"models directory: {report['models_dir']}" + (" (offline)" if report["offline"] else ""))
    for item in report["installed_models"]:
        print(f"  {item['name']:<24} {item['kind']:<8} {item['source']:<11} {item['path']}")
    print("checks:")
    for check in report["checks"]:
        print(f"  [{check['status']}] {check['name']}: {check['detail']}")
        if check["fix"] and check["status"] != "ok":
            print(f"      fix: {check['fix']}")


def _handle(args: argparse.Namespace, context: CommandContext) -> int:
    from voice_sidecar.plugins.hardware import gather_facts

    report = build_report(context, gather_facts(), load_test=not args.no_load_test)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report)
    return 0 if report["ok"] else 1


def run_doctor(args: argparse.Namespace, context: CommandContext) -> int:
    return _handle(args, context)

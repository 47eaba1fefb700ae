"""Install, check and repair models: the one place that fetches.

``pull`` installs a catalog model into the models directory: one lock per
model, free space checked before the first byte, every file verified and moved
into place, the completion marker last. ``ensure`` is what the runtime calls
before loading: an installed model is used as it is (after a ``stat`` check of
the files we fetched), a missing one is fetched unless the settings say
offline, a corrupt one is quarantined and fetched again.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from voice_sidecar.errors import (
    DiskFullError,
    ModelDownloadError,
    ModelLoadError,
    ModelOfflineError,
)
from voice_sidecar.log import logger
from voice_sidecar.settings import ModelSettings

from .catalog import CatalogModel, ModelKind
from .hashing import ExpectedDigest, sha256_file
from .http_fetch import PART_SUFFIX, Fetcher, FetchOptions, file_url, host_label
from .markers import FileRecord, Marker, now_iso, read_marker, write_complete, write_incomplete
from .progress import ProgressCallback, ProgressTracker
from .space import check_free_space, free_bytes
from .store import InstalledModel, ModelStore
from .verify import VerifyReport, quick_check, verify_installed


@dataclass(frozen=True)
class PullResult:
    installed: InstalledModel
    fetched: bool
    """False when the model was already installed (nothing was downloaded)."""
    bytes_fetched: int = 0


@dataclass(frozen=True)
class _PlannedFile:
    name: str
    url: str
    size: int | None
    expected: ExpectedDigest | None
    present: bool
    """Already in place from an interrupted install and verified again."""
    part_bytes: int


class ModelManager:
    def __init__(
        self,
        store: ModelStore,
        settings: ModelSettings,
        *,
        options: FetchOptions | None = None,
        free_space: Callable[[Path], int] = free_bytes,
        fetcher_factory: Callable[[FetchOptions], Fetcher] = Fetcher,
    ) -> None:
        self.store = store
        self.settings = settings
        self.options = options or FetchOptions(mirror_url=settings.mirror_url)
        self._free_space = free_space
        self._fetcher_factory = fetcher_factory

    def model(self, name: str, kind: ModelKind | None = None) -> CatalogModel:
        return self.store.catalog.require(name, kind)

    # --- fetching -----------------------------------------------------------------

    def pull(
        self, model: CatalogModel, *, progress: ProgressCallback | None = None, force: bool = False
    ) -> PullResult:
        """Install ``model`` into the models directory unless it is installed already.

        ``force``: fetch into the models directory even when a copy is installed elsewhere
        (a package, a bundle), and hash every file already there again.
        """
        tracker = ProgressTracker(
            model=model.name, kind=model.kind, total=model.total_size, callback=progress
        )
        waiting = "another process is fetching this model; waiting for it"
        with self.store.lock(model, on_wait=lambda: tracker.waiting(waiting)):
            found = self.store.find(model)
            if found is not None and not force:
                return PullResult(installed=found, fetched=False)
            if self.settings.offline:
                raise ModelOfflineError(
                    f"{model.name} is not installed and the offline setting forbids fetching it; "
                    "turn offline off, or copy the model into the models directory"
                )
            try:
                fetched = self._fetch(model, tracker)
            except ModelDownloadError as exc:
                tracker.failed(str(exc))
                raise
        installed = self.store.find(model)
        if installed is None:  # pragma: no cover - the marker was just written
            raise ModelDownloadError(f"{model.name} was fetched but cannot be found afterwards")
        return PullResult(installed=installed, fetched=True, bytes_fetched=fetched)

    def _plan(self, model: CatalogModel, fetcher: Fetcher, directory: Path) -> list[_PlannedFile]:
        resuming = directory.is_dir()
        plan = []
        for item in model.files:
            url = file_url(self.options.mirror_url, model.repo, model.revision, item.path)
            expected = ExpectedDigest("sha256", item.sha256, "catalog") if item.sha256 else None
            size = item.size
            if size is None or expected is None:
                remote = fetcher.head(url, what=f"{item.name} of {model.name}")
                size = size if size is not None else remote.size
                expected = expected or remote.digest
            dest = directory / item.name
            present = (
                resuming
                and dest.is_file()
                and expected is not None
                and expected.kind == "sha256"
                and (size is None or dest.stat().st_size == size)
                and sha256_file(dest) == expected.value
            )
            part = dest.with_name(dest.name + PART_SUFFIX)
            part_bytes = part.stat().st_size if part.is_file() and not present else 0
            plan.append(_PlannedFile(item.name, url, size, expected, present, part_bytes))
        return plan

    def _fetch(self, model: CatalogModel, tracker: ProgressTracker) -> int:
        directory = self.store.directory(model)
        existed = directory.exists()
        with self._fetcher_factory(self.options) as fetcher:
            plan = self._plan(model, fetcher, directory)
            if all(p.size is not None for p in plan):
                tracker.total = sum(p.size or 0 for p in plan)
            needed = sum(max(0, (p.size or 0) - p.part_bytes) for p in plan if not p.present)
            check_free_space(
                needed=needed,
                free=self._free_space(directory),
                directory=self.store.root,
                what=model.name,
            )
            write_incomplete(directory, name=model.name, repo=model.repo, revision=model.revision)
            logger.info(
                "fetching %s (%d bytes to go) from %s into %s",
                model.name,
                needed,
                host_label(self.options.mirror_url),
                directory,
            )
            tracker.started()
            records: dict[str, FileRecord] = {}
            fetched = 0
            try:
                for item in plan:
                    dest = directory / item.name
                    if item.present:
                        tracker.file_present(item.name, dest.stat().st_size)
                        records[item.name] = _record(dest, sha256_file(dest), "sha256")
                        continue
                    result = fetcher.download(
                        item.url,
                        dest,
                        what=f"{item.name} of {model.name}",
                        expected=item.expected,
                        size=item.size,
                        tracker=tracker,
                        discard=lambda path, why: self._discard(model, path, why),
                    )
                    fetched += result.size
                    records[item.name] = _record(dest, result.sha256, result.verified_by)
            except DiskFullError:
                if not existed:
                    shutil.rmtree(directory, ignore_errors=True)
                raise
        marker = Marker(
            name=model.name,
            kind=model.kind,
            repo=model.repo,
            revision=model.revision,
            files=records,
            completed_at=now_iso(),
        )
        write_complete(directory, marker)
        tracker.finished()
        logger.info("installed %s in %s", model.name, directory)
        return fetched

    def _discard(self, model: CatalogModel, path: Path, reason: str) -> None:
        kept = self.store.quarantine_file(model, path, reason)
        logger.warning("%s; the bad copy is kept in %s", reason, kept)

    # --- checking -----------------------------------------------------------------

    def verify(self, model: CatalogModel) -> VerifyReport | None:
        """Hash every file of an installed model; None when it is not installed."""
        installed = self.store.find(model)
        return None if installed is None else verify_installed(installed)

    def quarantine(self, report: VerifyReport) -> Path | None:
        """Move a corrupt model we own aside; models we do not own are only reported."""
        installed = report.model
        if installed.source != "models-dir" or installed.catalog is None:
            return None
        if installed.directory != self.store.directory(installed.catalog):
            return None
        reason = f"{installed.name} failed verification: " + "; ".join(report.problems)
        with self.store.lock(installed.catalog):
            target = self.store.quarantine(installed.catalog, reason)
        logger.warning("%s; moved to %s", reason, target)
        return target

    def ensure(
        self, model: CatalogModel, *, progress: ProgressCallback | None = None
    ) -> InstalledModel:
        """An installed, unchanged copy of ``model``: fetched or repaired if needed."""
        installed = self.store.find(model)
        if installed is not None:
            report = quick_check(installed)
            if report is None:
                return installed
            if report.ok:
                _refresh_marker(installed)
                return installed
            self._replace_corrupt(report, "; ".join(report.problems))
        return self.pull(model, progress=progress).installed

    def repair(
        self, model: CatalogModel, reason: str, *, progress: ProgressCallback | None = None
    ) -> InstalledModel | None:
        """After a load failure: verify; unless every file matches a known hash, quarantine
        the copy and fetch it again.

        Returns the fresh copy, or None when the files verify (the failure is not
        corruption) or the copy is not ours to replace (a package, a bundle).
        """
        installed = self.store.find(model)
        if installed is None:
            return None
        report = verify_installed(installed)
        if report.ok and all(f.status == "ok" for f in report.files):
            return None
        if not self._replace_corrupt(report, reason):
            return None
        return self.pull(model, progress=progress).installed

    def _replace_corrupt(self, report: VerifyReport, reason: str) -> bool:
        """Quarantine a corrupt copy we own; say why fetching it again is impossible if so."""
        target = self.quarantine(report)
        if target is None:
            return False
        if self.settings.offline:
            raise ModelLoadError(
                f"{report.model.name} is corrupt ({reason}) and was moved to {target}; "
                "the offline setting forbids fetching it again: turn offline off or "
                "copy a good copy into the models directory"
            )
        logger.warning("%s is corrupt (%s); fetching it again", report.model.name, reason)
        return True


def _record(path: Path, sha256: str, verified_by: str) -> FileRecord:
    stat = path.stat()
    return FileRecord(
        size=stat.st_size, sha256=sha256, mtime_ns=stat.st_mtime_ns, verified_by=verified_by
    )


def _refresh_marker(installed: InstalledModel) -> None:
    """Files were touched but still match: record their new times so we stop re-hashing."""
    marker = read_marker(installed.directory)
    if marker is None:
        return
    files = {
        name: replace(record, mtime_ns=(installed.directory / name).stat().st_mtime_ns)
        for name, record in marker.files.items()
    }
    write_complete(installed.directory, replace(marker, files=files))

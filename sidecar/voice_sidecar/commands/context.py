"""What the entry point hands every command: settings, their sources, secrets, redaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from voice_sidecar.log import logger
from voice_sidecar.redaction import Redactor
from voice_sidecar.secret_store import ResolvedKey, SecretStore, resolve_api_key
from voice_sidecar.settings import Settings
from voice_sidecar.settings_loader import LoadedSettings, with_value


@dataclass
class CommandContext:
    loaded: LoadedSettings
    environ: Mapping[str, str]
    store: SecretStore
    redactor: Redactor
    llm_key: ResolvedKey | None = field(default=None)

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    def resolve_llm_key(self) -> Settings:
        """Settings with the LLM key filled in: the Nebius key for Nebius (environment, then
        keyring), the generic key for any other endpoint. Never fails: a missing key is a state
        the agent reports, not a crash."""
        llm = self.settings.llm
        if llm.is_nebius:
            resolved = resolve_api_key("nebius", self.environ, self.store)
        elif llm.api_key:
            resolved = ResolvedKey(llm.api_key, self.loaded.sources["llm.api_key"])
        else:
            resolved = resolve_api_key("llm", self.environ, self.store)
            if resolved.value is None:
                resolved = ResolvedKey(None, "not needed")
        if resolved.problem and llm.is_nebius:
            logger.warning("cannot read the Nebius key from the keyring: %s", resolved.problem)
        self.llm_key = resolved
        self.redactor.add(resolved.value)
        self.loaded.sources["llm.api_key"] = resolved.source
        return with_value(self.settings, "llm.api_key", resolved.value)

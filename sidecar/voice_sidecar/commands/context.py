"""What the entry point hands every command: settings, their sources, secrets, redaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from voice_sidecar.log import logger
from voice_sidecar.redaction import Redactor
from voice_sidecar.secret_store import (
    ResolvedKey,
    SecretStore,
    missing_key_advice,
    resolve_api_key,
)
from voice_sidecar.settings import Settings
from voice_sidecar.settings_loader import LoadedSettings, with_value


@dataclass
class CommandContext:
    loaded: LoadedSettings
    environ: Mapping[str, str]
    store: SecretStore
    redactor: Redactor
    llm_key: ResolvedKey | None = field(default=None)
    _warned: bool = field(default=False, repr=False)

    @property
    def settings(self) -> Settings:
        return self.loaded.settings

    @property
    def llm_model_given(self) -> bool:
        """Whether ``llm.model`` was set (flag, environment, file) rather than left at Nebius's
        default: an endpoint serving one other model is then not asked for the default."""
        return self.loaded.sources.get("llm.model") != "default"

    def read_llm_key(self) -> ResolvedKey:
        """The LLM key: the Nebius key for Nebius (environment, then keyring), the generic key
        for any other endpoint. Blocks for as long as the keyring takes (its timeout at most);
        never raises: a missing key is a state. Known values are added to the redactor."""
        llm = self.settings.llm
        if llm.is_nebius:
            resolved = resolve_api_key("nebius", self.environ, self.store)
        elif llm.api_key:
            resolved = ResolvedKey(llm.api_key, self.loaded.sources["llm.api_key"])
        else:
            resolved = resolve_api_key("llm", self.environ, self.store)
            if resolved.value is None:
                resolved = ResolvedKey(None, "not needed")
        self.redactor.add(resolved.value)
        return resolved

    def resolve_llm_key(self, *, warn: bool = True) -> Settings:
        """Settings with the LLM key filled in (``read_llm_key``); ``warn``: say once, as a
        warning, that the key is missing because the keyring cannot be read, and how to fix
        it (commands that report the key's state themselves pass False)."""
        llm = self.settings.llm
        resolved = self.read_llm_key()
        if warn and resolved.problem and llm.is_nebius and not self._warned:
            self._warned = True
            logger.warning("no Nebius API key: %s", missing_key_advice("nebius", resolved.problem))
        self.llm_key = resolved
        self.loaded.sources["llm.api_key"] = resolved.source
        return with_value(self.settings, "llm.api_key", resolved.value)

"""What a config reload swaps in, all at once: the loaded config, the secrets it names, the
routing key, and the redactor that knows them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from loginprobe import config as cfg
from loginprobe.monitor.tracks.track import Thresholds
from loginprobe.redact import Redactor


@dataclass
class Settings:
    loaded: cfg.LoadedConfig
    secrets: dict[str, cfg.HubSecrets]
    routing_key: str | None
    redactor: Redactor = field(init=False)

    def __post_init__(self) -> None:
        values = [v for s in self.secrets.values() for v in s.values()]
        self.redactor = Redactor([*values, *([self.routing_key] if self.routing_key else [])])

    @classmethod
    def load(cls, path: Path) -> Settings:
        loaded = cfg.load(path)
        secrets = cfg.resolve_secrets(loaded, loaded.config.hubs)
        return cls(loaded, secrets, cfg.resolve_routing_key(loaded))

    @property
    def config(self) -> cfg.Config:
        return self.loaded.config

    @property
    def thresholds(self) -> Thresholds:
        m = self.loaded.config.monitor
        return Thresholds(m.failures_to_alert, m.successes_to_resolve)

    def interval(self, hub: str) -> float:
        c = self.loaded.config
        return c.hubs[hub].interval or c.monitor.interval

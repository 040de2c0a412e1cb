"""What a config reload swaps in, all at once: the loaded config, the secrets it names, the
routing key, and the redactor that knows them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx2

from loginprobe import config as cfg
from loginprobe.alerting.pagerduty import PagerDutySender
from loginprobe.monitor.heartbeat import Target, secret_parts
from loginprobe.monitor.tracks.track import Thresholds
from loginprobe.redact import Redactor


@dataclass
class Settings:
    loaded: cfg.LoadedConfig
    secrets: dict[str, cfg.HubSecrets]
    routing_key: str | None
    heartbeat_url: str | None = field(default=None, repr=False)
    redactor: Redactor = field(init=False)

    def __post_init__(self) -> None:
        self.redactor = Redactor(self.secret_values())

    def secret_values(self) -> list[str]:
        """Every secret these settings hold: the hubs' and the routing key."""
        values = [v for s in self.secrets.values() for v in s.values()]
        if self.routing_key:
            values.append(self.routing_key)
        if self.heartbeat_url:
            values += secret_parts(self.heartbeat_url)
        return values

    @classmethod
    def load(cls, path: Path) -> Settings:
        loaded = cfg.load(path)
        secrets = cfg.resolve_secrets(loaded, loaded.config.hubs)
        routing_key = cfg.resolve_routing_key(loaded)
        return cls(loaded, secrets, routing_key, cfg.resolve_heartbeat_url(loaded))

    @property
    def heartbeat(self) -> Target | None:
        hb = self.loaded.config.heartbeat
        if hb is None or self.heartbeat_url is None:
            return None
        return Target(self.heartbeat_url, hb.interval)

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


def make_sender(
    settings: Settings, transport: httpx2.BaseTransport | None = None
) -> PagerDutySender | None:
    """The PagerDuty client for these settings (None: paging is not configured)."""
    pd = settings.loaded.config.pagerduty
    if pd is None or settings.routing_key is None:
        return None
    ca = str(settings.loaded.file(pd.ca_file)) if pd.ca_file else None
    return PagerDutySender(settings.routing_key, pd.events_url, ca, transport=transport)

"""config.toml: its models, loading it, and resolving the secrets it names."""

from loginprobe.config.loading import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    ConfigError,
    LoadedConfig,
    config_path,
    load,
)
from loginprobe.config.schema import (
    RUNBOOK_KEYS,
    BrowserConfig,
    Config,
    Duration,
    EnvName,
    HeartbeatConfig,
    HttpUrl,
    HubConfig,
    MonitorConfig,
    OAuthConfig,
    PagerDutyConfig,
    SelectorsConfig,
    parse_duration,
)
from loginprobe.config.secrets import (
    HubSecrets,
    resolve_heartbeat_url,
    resolve_routing_key,
    resolve_secrets,
)

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "RUNBOOK_KEYS",
    "BrowserConfig",
    "Config",
    "ConfigError",
    "Duration",
    "EnvName",
    "HeartbeatConfig",
    "HttpUrl",
    "HubConfig",
    "HubSecrets",
    "LoadedConfig",
    "MonitorConfig",
    "OAuthConfig",
    "PagerDutyConfig",
    "SelectorsConfig",
    "config_path",
    "load",
    "parse_duration",
    "resolve_heartbeat_url",
    "resolve_routing_key",
    "resolve_secrets",
]

"""The monitor's HTTP endpoints: the status page, /api/status, /healthz, /metrics, /artifacts/."""

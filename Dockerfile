# loginprobe: the synthetic login monitor, with Playwright's own Chromium.
# Build: docker build -t loginprobe .
# Run:   docker run -d -v $PWD/config.toml:/etc/loginprobe/config.toml:ro -v loginprobe-state:/var/lib/loginprobe \
#          -e EXAMPLE_TEST_USERNAME -e EXAMPLE_TEST_PASSWORD -e EXAMPLE_CLIENT_SECRET -e PAGERDUTY_ROUTING_KEY \
#          -e LOGINPROBE_STATUS_TOKEN -e LOGINPROBE_STATUS_PASSWORD \
#          -p 9464:9464 loginprobe        (with monitor.listen = "0.0.0.0:9464" in the config; the
#                                          default state file lands in the /var/lib/loginprobe volume)
#        Published beyond the host, the endpoints need [monitor.auth] in the config (token_env =
#        "LOGINPROBE_STATUS_TOKEN", password_env = "LOGINPROBE_STATUS_PASSWORD"): the status page
#        and /artifacts/ show the evidence of failing probes. /healthz stays open for the HEALTHCHECK.
#        Chromium keeps its sandbox as this non-root user where user namespaces are allowed
#        (Docker's default seccomp profile may refuse them); `probe check` says which.
#        One -e per *_env key in your config; for a *_file key mount the file (-v ./secrets:/run/secrets:ro).
#        The HEALTHCHECK asks 127.0.0.1:9464, the default listen port: keep it, or pass --health-cmd.
#        Kubernetes: deploy/. Checked outside Docker by tests/integration/test_dockerfile.py.
# Once:  docker run --rm ... loginprobe run example
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PLAYWRIGHT_BROWSERS_PATH=/opt/ms-playwright \
    LOGINPROBE_CONFIG=/etc/loginprobe/config.toml

WORKDIR /app

# Locked runtime dependencies first: this layer only changes when the lock does.
COPY requirements.lock ./
RUN pip install --no-deps -r requirements.lock

# Playwright's own Chromium and the system libraries it needs (the product prefers it to any
# system Chromium), and tini: PID 1 must reap the processes Chromium's helpers leave behind, or a
# monitor running for months collects zombies. --with-deps runs apt-get; clean its lists in the
# same layer.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini=0.19.0-1+b3 \
    && playwright install --with-deps chromium \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY src ./src
COPY probes ./probes
RUN pip install --no-deps . \
    && groupadd --system --gid 10001 probe \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/probe probe \
    && mkdir -p /var/lib/loginprobe \
    && chown 10001:10001 /var/lib/loginprobe
USER 10001:10001
WORKDIR /var/lib/loginprobe
VOLUME ["/var/lib/loginprobe"]
EXPOSE 9464

# /healthz answers 503 while the monitor starts and whenever a page could be missed (no probe
# finished for two cycles, the outbox sender stopped, the store cannot be written).
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9464/healthz', timeout=4)"]

# tini as PID 1: it reaps orphaned processes and hands SIGTERM to `probe serve`.
ENTRYPOINT ["/usr/bin/tini", "--", "probe"]
CMD ["serve"]

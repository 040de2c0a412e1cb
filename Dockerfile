# loginprobe: the synthetic login monitor, with Playwright's own Chromium.
# Build: docker build -t loginprobe .
# Run:   docker run --rm -v $PWD/config.toml:/etc/loginprobe/config.toml:ro \
#          -e EXAMPLE_TEST_USERNAME -e EXAMPLE_TEST_PASSWORD -e EXAMPLE_CLIENT_SECRET loginprobe run example
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
# system Chromium). --with-deps runs apt-get; clean its lists in the same layer.
RUN playwright install --with-deps chromium \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md ./
COPY src ./src
COPY probes ./probes
RUN pip install --no-deps . \
    && groupadd --system --gid 10001 probe \
    && useradd --system --uid 10001 --gid 10001 --create-home --home-dir /home/probe probe
USER 10001:10001
WORKDIR /home/probe

ENTRYPOINT ["probe"]
# `probe serve` (the long-running monitor) arrives with the scheduler; until then the image
# validates its config by default and runs `probe run HUB` on demand.
CMD ["check"]

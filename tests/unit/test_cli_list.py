"""`probe list` shows how many days each declared client secret has left."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path


def test_list_shows_days_left_until_the_declared_secret_expiry(tmp_path: Path) -> None:
    expires = (datetime.now(UTC).date() + timedelta(days=12)).isoformat()
    config = tmp_path / "config.toml"
    config.write_text(f"""
[hubs.h]
url = "https://hub.example.org"
flow = "generic_oidc"
username_env = "U"
password_env = "P"
[hubs.h.oauth]
token_url = "https://idp.example.org/token"
client_id = "hub"
client_secret_env = "S"
secret_expires = {expires}
""")
    proc = subprocess.run(
        [sys.executable, "-m", "loginprobe", "--config", str(config), "list", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    (row,) = json.loads(proc.stdout)
    assert (row["secret_expires"], row["secret_days_left"]) == (expires, 12)

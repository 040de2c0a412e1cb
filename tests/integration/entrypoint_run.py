"""Start the image's entry point and wait for its own HEALTHCHECK to pass, as Docker would.

Run by test_dockerfile.py as a script, inside `unshare --net --map-root-user` where the kernel allows
it: then 127.0.0.1:9464 belongs to this run alone, as in a container, and the HEALTHCHECK command
runs unchanged even while other tests (or engineers) use that port on the host.

    python entrypoint_run.py SPEC.json   # {"serve", "healthcheck", "cwd", "env", "netns", "deadline_s"}

Prints one JSON object: how long until the HEALTHCHECK passed, /healthz's body, and how `serve` exited
on SIGTERM.
"""

from __future__ import annotations

import fcntl
import json
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1


def loopback_up() -> None:
    """A new network namespace starts with `lo` down; bring it up (what `ip link set lo up` does)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        ifreq = struct.pack("16sH", b"lo", 0)
        flags = struct.unpack("16sH", fcntl.ioctl(s, SIOCGIFFLAGS, ifreq)[:18])[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH", b"lo", flags | IFF_UP))


def main(spec: dict[str, Any]) -> dict[str, Any]:
    if spec["netns"]:
        loopback_up()
    t0 = time.monotonic()
    serve = subprocess.Popen(
        spec["serve"],
        cwd=spec["cwd"],
        env=spec["env"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    result: dict[str, Any] = {"healthy_after_s": None, "attempts": 0}
    try:
        deadline = t0 + spec["deadline_s"]
        while time.monotonic() < deadline and serve.poll() is None:
            result["attempts"] += 1
            check = subprocess.run(
                spec["healthcheck"], env=spec["env"], capture_output=True, text=True, timeout=10
            )
            result["healthcheck_rc"] = check.returncode
            result["healthcheck_stderr"] = check.stderr[-500:]
            if check.returncode == 0:
                result["healthy_after_s"] = round(time.monotonic() - t0, 2)
                url = spec["healthz_url"]
                with urllib.request.urlopen(url, timeout=5) as answer:
                    result["healthz"] = json.loads(answer.read())
                break
            time.sleep(0.25)  # between attempts of a condition polled until the deadline
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            t_stop = time.monotonic()
            try:
                serve.wait(timeout=20)
            except subprocess.TimeoutExpired:
                serve.kill()
                serve.wait()
            result["stopped_in_s"] = round(time.monotonic() - t_stop, 2)
        _, stderr = serve.communicate()
        result["serve_rc"] = serve.returncode
        result["serve_stderr_tail"] = stderr[-3000:]
    return result


if __name__ == "__main__":
    print(json.dumps(main(json.loads(Path(sys.argv[1]).read_text()))))

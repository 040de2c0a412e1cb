"""The Dockerfile, read the way Docker reads it, for tests that hold other things to it."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"


@dataclass(frozen=True)
class Instruction:
    name: str  # RUN, ENV, ...
    args: str  # the rest, continuation lines joined


def instructions(path: Path = DOCKERFILE) -> list[Instruction]:
    out: list[Instruction] = []
    pending = ""
    for line in path.read_text(encoding="utf-8").splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if pending and line.lstrip().startswith("#"):
            continue  # Docker drops comment lines inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        name, _, args = full.partition(" ")
        out.append(Instruction(name.upper(), args.strip()))
    assert not pending, "Dockerfile ends inside a continued instruction"
    return out


def all_of(name: str, path: Path = DOCKERFILE) -> list[str]:
    return [i.args for i in instructions(path) if i.name == name]


def one(name: str, path: Path = DOCKERFILE) -> str:
    (args,) = all_of(name, path)
    return args


def exec_form(args: str) -> list[str]:
    """CMD/ENTRYPOINT in JSON (exec) form; shell form is refused: signals would miss `probe`."""
    value = json.loads(args)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), args
    return value


def env() -> dict[str, str]:
    """Every ENV, in order (KEY=VALUE pairs; the legacy `ENV KEY VALUE` form too)."""
    out: dict[str, str] = {}
    for args in all_of("ENV"):
        words = shlex.split(args)
        if "=" not in words[0]:
            out[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            key, _, value = word.partition("=")
            out[key] = value
    return out


def user() -> tuple[int, int | None]:
    """The final USER as numeric uid (and gid)."""
    uid, _, gid = all_of("USER")[-1].partition(":")
    return int(uid), int(gid) if gid else None


def healthcheck_cmd() -> list[str]:
    """HEALTHCHECK [OPTIONS] CMD [...]: the command, exec form."""
    args = one("HEALTHCHECK")
    _, _, cmd = args.partition(" CMD ")
    assert cmd, f"HEALTHCHECK without CMD: {args}"
    return exec_form(cmd)


def healthcheck_url() -> str:
    urls = re.findall(r"https?://[^'\"\s]+", " ".join(healthcheck_cmd()))
    assert len(urls) == 1, urls
    return urls[0]


def exposed_ports() -> list[int]:
    return [int(p.split("/")[0]) for args in all_of("EXPOSE") for p in args.split()]

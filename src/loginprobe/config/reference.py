"""docs/configuration.md, generated from the config models so the reference cannot drift.

    scripts/configdoc                                        # rewrite docs/configuration.md
    python -m loginprobe.config.reference [PATH]                    # the same, or print it without PATH

Every table and key comes from `config.Config` and the models under it: the type from the annotation
and its validators, the default from the field, the text from the field's `description`. A unit test
regenerates it and compares it to the committed file.
"""

from __future__ import annotations

import inspect
import json
import sys
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo

from loginprobe.config import schema as cfg

HEADER = """\
# Configuration reference

<!-- Generated from src/loginprobe/config/schema.py by scripts/configdoc. Do not edit by hand:
     change the field's description= and run scripts/configdoc. -->

loginprobe reads one TOML file: `--config PATH`, else `$LOGINPROBE_CONFIG`, else `./config.toml`.
[`config.toml`](../config.toml) at the root of the repository is a commented example, and
`probe check` validates a file and that every secret it names is present.

- Unknown keys are errors, reported as one line naming the file, the key and the hub.
- A *duration* is a string with a unit: `"500ms"`, `"90s"`, `"2m"`, `"1h"`, `"14d"`, `"1m30s"`.
- Secrets never live in the file. A `*_env` key names an environment variable that holds the
  secret; its `*_file` twin names a file instead (a mounted Kubernetes Secret, a Docker secret),
  relative to the config file. Set one of the two, not both.
- `NAME` in `[hubs.NAME]` is the hub's name in verdicts, pages (`loginprobe/NAME/login`), metrics
  and the CLI (`probe run NAME`): letters, digits, `_`, `.`, `-`.
"""

# Validators that give a plain type its meaning in the file.
_VALIDATED: dict[Callable[..., Any], str] = {
    cfg.parse_duration: "duration",
    cfg._http_url: "URL (http/https)",
    cfg._listen: '"HOST:PORT"',
}


@dataclass(frozen=True)
class Key:
    name: str
    kind: str
    default: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str  # "monitor", "hubs.NAME.oauth"
    doc: str
    keys: tuple[Key, ...]


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds as a sub-table, and whether it is a table per NAME (a dict)."""
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) in (Union, types.UnionType) and len(args) == 1:
        return _model_in(args[0])
    if get_origin(annotation) is dict and _is_model(args[1]):
        return args[1], True
    if _is_model(annotation):
        return annotation, False
    return None, False


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _constraints(metadata: list[Any]) -> str:
    found = []
    for m in metadata:
        if isinstance(m, annotated_types.Ge):
            found.append(f"≥ {m.ge}")
        elif isinstance(m, annotated_types.Le):
            found.append(f"≤ {m.le}")
        elif isinstance(m, annotated_types.MinLen):
            found.append(f"at least {m.min_length}")
    return f" ({', '.join(found)})" if found else ""


def _kind(tp: Any) -> str:
    """A type as the TOML file sees it."""
    if tp == cfg.EnvName:
        return "environment variable name"
    origin, args = get_origin(tp), get_args(tp)
    if origin is Annotated:
        for m in tp.__metadata__:
            if isinstance(m, BeforeValidator) and m.func in _VALIDATED:
                return _VALIDATED[m.func]
        return _kind(args[0])
    if origin in (Union, types.UnionType):
        return " or ".join(_kind(a) for a in args if a is not type(None))
    if origin is Literal:
        return " or ".join(f"`{json.dumps(a)}`" for a in args)
    if origin is list:
        return f"list of {_kind(args[0])}"
    if origin is dict:
        return f"table of {_kind(args[0])} = {_kind(args[1])}"
    if isinstance(tp, type) and issubclass(tp, Enum):
        return " or ".join(f"`{json.dumps(m.value)}`" for m in tp)
    names = {str: "string", int: "integer", float: "number", bool: "boolean", date: "date"}
    return names.get(tp, getattr(tp, "__name__", str(tp)))


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"


def _default(field: FieldInfo, kind: str) -> str:
    if field.is_required():
        return "**required**"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if kind == "duration":
        value = _duration(float(value))
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{json.dumps(value, ensure_ascii=False, default=str)}`"


def _tables(model: type[BaseModel], name: str) -> Iterator[Table]:
    hints = typing.get_type_hints(model, include_extras=True)
    keys: list[Key] = []
    below: list[Table] = []
    for field_name, field in model.model_fields.items():
        sub, per_name = _model_in(field.annotation)
        if sub is not None:
            prefix = f"{name}.{field_name}" if name else field_name
            below.extend(_tables(sub, f"{prefix}.NAME" if per_name else prefix))
            continue
        kind = _kind(hints[field_name]) + _constraints(field.metadata)
        text = (field.description or "").replace("|", "\\|").replace("\n", " ")
        keys.append(Key(field_name, kind, _default(field, kind), text))
    if keys:
        yield Table(name, " ".join(inspect.cleandoc(model.__doc__ or "").split()), tuple(keys))
    yield from below


def tables() -> list[Table]:
    """Every table of config.toml, in the order of the models."""
    return list(_tables(cfg.Config, ""))


def undocumented() -> list[str]:
    """Keys whose field has no description."""
    return [f"{t.name}.{k.name}" for t in tables() for k in t.keys if not k.description]


def render() -> str:
    out = [HEADER]
    for table in tables():
        # Keys of the file itself (not in any [table]) come first in the file.
        title = f"[{table.name}]" if table.name else "Top level (before any [table])"
        out.append(f"\n## {title}\n\n")
        if table.doc:
            out.append(f"{table.doc}\n\n")
        out.append("| key | type | default | meaning |\n|---|---|---|---|\n")
        for k in table.keys:
            out.append(
                f"| `{k.name}` | {k.kind} | {k.default} | {k.description or '(undocumented)'} |\n"
            )
    return "".join(out)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    text = render()
    if not args:
        sys.stdout.write(text)
        return
    Path(args[0]).write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()

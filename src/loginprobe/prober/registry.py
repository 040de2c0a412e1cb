"""Finding and loading login flows: the built-in ones in probes/, and a hub's own flow file.

The built-in flows are the files of the `probes/` folder. They are imported as the package
`loginprobe.probes`: in an installed wheel the folder sits inside the loginprobe package, in a
source checkout beside `src/`; either way nothing named plain `probes` lands in site-packages.
A hub's own flow file (`flow = "flows/my_idp.py"`) is loaded by path and re-read when it changes.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import pkgutil
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from loginprobe.flows import Flow

FLOW_PACKAGE = "loginprobe.probes"
_HERE = Path(__file__).resolve().parent.parent  # src/loginprobe (or site-packages/loginprobe)
# The wheel puts probes/ inside the package; a source checkout has it at the repository's top.
_CANDIDATES = (_HERE / "probes", _HERE.parent.parent / "probes")


def flows_dir() -> Path:
    """The folder of the built-in flows."""
    for candidate in _CANDIDATES:
        if (candidate / "__init__.py").is_file():
            return candidate
    raise LookupError(
        f"the built-in flows are missing (looked in {', '.join(map(str, _CANDIDATES))})"
    )


def _package() -> ModuleType:
    """`loginprobe.probes`, the package of the built-in flows, wherever the folder is."""
    if FLOW_PACKAGE in sys.modules:
        return sys.modules[FLOW_PACKAGE]
    folder = flows_dir()
    spec = importlib.util.spec_from_file_location(
        FLOW_PACKAGE, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[FLOW_PACKAGE] = module
    spec.loader.exec_module(module)
    return module


_listed: dict[tuple[str, ...], frozenset[str]] = {}


def available_flows() -> set[str]:
    """Names of the flow files in probes/ (without importing them). The config's check asks once
    per hub: the modules are found again only when the folder's entries changed."""
    folder = flows_dir()
    entries = (str(folder), *sorted(os.listdir(folder)))
    names = _listed.get(entries)
    if names is None:
        _listed.clear()
        names = _listed[entries] = frozenset(
            m.name for m in pkgutil.iter_modules([str(folder)]) if not m.name.startswith("_")
        )
    return set(names)


def is_flow_file(ref: str) -> bool:
    """A hub's own flow file (a path ending in .py) rather than a flow from probes/."""
    return ref.endswith(".py")


def flow_module(ref: str) -> ModuleType:
    """The module of a flow: a name from probes/, or the path of a hub's own flow file."""
    if is_flow_file(ref):
        path = Path(ref).resolve()
        if not path.is_file():
            raise LookupError(f"no flow file {ref}")
        # Keyed by path and modification time: an edited file is loaded afresh (SIGHUP reload).
        name = f"loginprobe_flow_{abs(hash(str(path)))}_{path.stat().st_mtime_ns}"
        if name in sys.modules:
            return sys.modules[name]
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise LookupError(f"cannot load flow file {ref}")
        module = importlib.util.module_from_spec(spec)
        try:
            spec.loader.exec_module(module)
        except Exception as err:  # a broken hub file: say so where it is, not a traceback
            raise LookupError(
                f"flow file {ref} failed to load: {type(err).__name__}: {err}"
            ) from None
        sys.modules[name] = module
        return module
    try:
        os.stat(flows_dir() / f"{ref}.py")
    except FileNotFoundError:
        raise LookupError(f"no flow named {ref!r} in probes/") from None
    except OSError as err:  # out of file handles, a permission: say so, not "no such flow"
        raise LookupError(f"cannot read probes/{ref}.py: {err.strerror}") from None
    if ref.startswith("_") or ref not in available_flows():
        raise LookupError(f"no flow named {ref!r} in probes/")
    _package()
    return importlib.import_module(f"{FLOW_PACKAGE}.{ref}")


def load_flow(ref: str) -> Flow:
    module = flow_module(ref)
    login = getattr(module, "login", None)
    if not callable(login):
        where = ref if is_flow_file(ref) else f"probes/{ref}.py"
        raise LookupError(f"{where} has no `async def login(page, ctx)`")
    flow: Flow = login
    return flow


def describe_flow(ref: str) -> tuple[str, dict[str, str]]:
    """The first line of a flow's docstring and its options (name -> meaning)."""
    module = flow_module(ref)
    doc = (module.__doc__ or "").strip().splitlines()
    return (doc[0] if doc else ""), dict(getattr(module, "OPTIONS", {}))


def resolve_flow_options(ref: str, options: Mapping[str, str], base: Path) -> dict[str, str]:
    """The options, with those the flow declares as naming another flow (`FLOW_OPTIONS`) made
    absolute when they are flow files: relative to the config file, like `flow` itself."""
    named: set[str] = set(getattr(flow_module(ref), "FLOW_OPTIONS", ()))
    return {
        k: str((base / v).resolve()) if k in named and is_flow_file(v) else v
        for k, v in options.items()
    }


def option_problems(ref: str, options: Mapping[str, str]) -> list[str]:
    """What is wrong with a hub's flow_options for this flow, one message per problem."""
    module = flow_module(ref)
    known: dict[str, str] = dict(getattr(module, "OPTIONS", {}))
    required: set[str] = set(getattr(module, "REQUIRED_OPTIONS", ()))
    problems = [
        f"{key}: unknown option for flow {ref}"
        + (f" (known: {', '.join(sorted(known))})" if known else " (it takes none)")
        for key in options
        if key not in known
    ]
    problems += [
        f"{key}: flow {ref} needs this option ({known.get(key, '')})"
        for key in sorted(required - set(options))
    ]
    check = getattr(module, "check_options", None)
    if not problems and callable(check):
        problems += list(check(options))
    return problems

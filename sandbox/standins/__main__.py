"""`python -m sandbox.standins PROVIDER`: serve one provider stand-in until killed."""

from __future__ import annotations

import asyncio
import importlib
import sys

from sandbox.standins import PROVIDERS
from sandbox.standins.core import Provider, faults_middleware, serve


def main() -> None:
    if len(sys.argv) != 2 or sys.argv[1] not in PROVIDERS:
        sys.exit(f"usage: python -m sandbox.standins {{{','.join(PROVIDERS)}}}")
    provider = Provider()
    module = importlib.import_module(f"sandbox.standins.{sys.argv[1]}")
    app = module.make_app(provider, faults_middleware(provider))
    asyncio.run(serve(provider, app))


if __name__ == "__main__":
    main()

"""The login pages universities really run, as our own minimal pages (pages/README.md), and the
one server that serves them to the corpus tests (server.py)."""

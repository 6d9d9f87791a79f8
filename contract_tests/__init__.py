"""Contract tests for the Evolink image API (qwen-image-edit).

One pytest suite that reads only ``schemas/`` and talks HTTP, so it runs unchanged against the
fake in-process, a fake at a URL, or the live API, and writes a drift report of every mismatch.
See docs/contract-tests.md.
"""

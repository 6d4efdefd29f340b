"""Benchmarks for zuora_wf_async against a FakeZuora in a separate process.

Run ``uv run --group bench python -m benchmarks`` (``--quick`` for a smoke run); see
``benchmarks/README.md``.
"""

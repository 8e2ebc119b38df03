"""One driver per framework, each running the same benchmark task against the mock.

A driver module exposes ``async def make(base_url: str, concurrency: int) -> Driver``
(see :class:`drivers._task.Driver`). Drivers import only their own framework, so
``python benchmarks/_harness.py --import-only NAME`` measures that framework's import.
"""

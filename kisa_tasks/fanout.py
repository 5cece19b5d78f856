"""Independent work items spread over the machine or the Ray cluster.

Inside a Ray job's driver (a stage submitted to ``KISA_RAY__ADDRESS``) each
item is one Ray task, so the cluster runs as many at once as it has CPUs.
Elsewhere the items go to a pool of spawned processes (spawned, not forked:
an Airflow task process has threads), or run in this process when there is
one item or one worker. Results come back in item order either way, so what
a stage writes does not depend on where its items ran.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from typing import Any

log = logging.getLogger(__name__)


def _call[T, R](fn: Callable[[T], R], item: T) -> R:
    return fn(item)


def in_ray_driver() -> bool:
    try:
        import ray
    except ImportError:
        return False
    return bool(ray.is_initialized())


def default_workers() -> int:
    return len(os.sched_getaffinity(0))


def fan_out[T, R](
    fn: Callable[[T], R], items: Sequence[T], *, what: str, workers: int | None = None
) -> list[R]:
    """``fn`` over ``items`` (``fn`` picklable: a module function or a
    ``functools.partial`` of one); logs progress as ``what`` N/M."""
    if not items:
        return []
    if in_ray_driver():
        return _on_ray(fn, items, what)
    workers = min(workers or default_workers(), len(items))
    if workers <= 1:
        results = []
        for i, item in enumerate(items, start=1):
            results.append(fn(item))
            log.info("%s %d/%d", what, i, len(items))
        return results
    results_by_index: dict[int, R] = {}
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(_call, fn, item): i for i, item in enumerate(items)}
        for done, future in enumerate(as_completed(futures), start=1):
            results_by_index[futures[future]] = future.result()
            log.info("%s %d/%d (%d processes)", what, done, len(items), workers)
    return [results_by_index[i] for i in range(len(items))]


def _on_ray[T, R](fn: Callable[[T], R], items: Sequence[T], what: str) -> list[R]:
    import ray

    task: Any = ray.remote(_call)
    refs = [task.remote(fn, item) for item in items]
    pending = list(refs)
    while pending:
        _, pending = ray.wait(pending, num_returns=1)
        log.info("%s %d/%d (Ray tasks)", what, len(items) - len(pending), len(items))
    return list(ray.get(refs))

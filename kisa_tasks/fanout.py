"""Independent work items spread over the machine or the Ray cluster.

Inside a Ray job's driver (a stage submitted to ``KISA_RAY__ADDRESS``) each
item is one Ray task, so the cluster runs as many at once as it has CPUs.
Elsewhere the items go to a pool of spawned processes (spawned, not forked:
an Airflow task process has threads), or run in this process when there is
one item or one worker. Results come back in item order either way, so what
a stage writes does not depend on where its items ran.
"""

from __future__ import annotations

import itertools
import logging
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
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
    return list(fan_out_ordered(fn, items, what=what, workers=workers))


def fan_out_ordered[T, R](
    fn: Callable[[T], R],
    items: Sequence[T],
    *,
    what: str,
    workers: int | None = None,
    ahead: int | None = None,
) -> Iterator[R]:
    """``fan_out`` as a generator: results in item order as they are ready,
    with at most ``ahead`` items (default: twice the workers) started before
    the oldest result is taken, so a caller writing each result holds only
    a window of them, never all."""
    if not items:
        return
    if in_ray_driver():
        yield from _on_ray(fn, items, what, ahead)
        return
    workers = min(workers or default_workers(), len(items))
    if workers <= 1:
        for i, item in enumerate(items, start=1):
            yield fn(item)
            log.info("%s %d/%d", what, i, len(items))
        return
    window = max(ahead or 2 * workers, workers)
    with _main_hidden(), ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: deque[Future[R]] = deque()
        queue = iter(items)
        for item in itertools.islice(queue, window):
            pending.append(pool.submit(_call, fn, item))
        done = 0
        while pending:
            result = pending.popleft().result()
            done += 1
            log.info("%s %d/%d (%d processes)", what, done, len(items), workers)
            for item in itertools.islice(queue, 1):
                pending.append(pool.submit(_call, fn, item))
            yield result


@contextmanager
def _main_hidden() -> Iterator[None]:
    """Keep spawned workers from running this process's main module again.

    A spawned child re-imports ``__main__`` by path or name before its first
    item; in an Airflow task that is Airflow's CLI, whose import fails
    outside the scheduler (seen: BrokenProcessPool on a real scheduler). The
    items never need it: they are module functions."""
    main = sys.modules["__main__"]
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    try:
        main.__spec__ = None
        if hasattr(main, "__file__"):
            del main.__file__
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


def _on_ray[T, R](
    fn: Callable[[T], R], items: Sequence[T], what: str, ahead: int | None
) -> Iterator[R]:
    import ray

    task: Any = ray.remote(_call)
    cpus = ray.cluster_resources().get("CPU", 1)  # type: ignore[no-untyped-call]
    window = ahead or max(2 * int(cpus), 2)
    queue = iter(items)
    pending = deque(task.remote(fn, item) for item in itertools.islice(queue, window))
    done = 0
    while pending:
        result = ray.get(pending.popleft())
        done += 1
        log.info("%s %d/%d (Ray tasks)", what, done, len(items))
        pending.extend(task.remote(fn, item) for item in itertools.islice(queue, 1))
        yield result

"""Micro-batching: concurrent requests gathered into engine calls.

Requests queue their records; a dispatcher takes queued requests in arrival order, whole (a request is never
split, so its records share one model version), until ``max_batch`` records, and hands the batch to the engine
while the event loop keeps accepting requests. Up to ``parallelism`` batches run at once (one per engine worker).
Batches form while the engines are busy; when one is idle the dispatcher waits at most ``max_wait_ms`` for company
(0: dispatch at once, the lowest latency at low load, as Triton's default queue delay). The queue is bounded in
records: past ``max_queue`` a request is refused with :class:`Overloaded` (HTTP 429) instead of waiting without
bound.

With ``enabled=False`` every request is its own engine call (the "batching off" baseline of the load test),
still at most ``parallelism`` at once.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

Run = Callable[[list[Any]], Awaitable[list[Any]]]


class Overloaded(Exception):
    """The queue is full; retry after ``retry_after`` seconds."""

    def __init__(self, queued: int, limit: int, retry_after: int = 1) -> None:
        super().__init__(f"server busy: {queued} records queued, the limit is {limit}; retry after {retry_after} s")
        self.retry_after = retry_after


@dataclass(eq=False)
class _Request:
    items: Sequence[Any]
    fut: asyncio.Future
    submitted: float = field(default_factory=time.perf_counter)
    waited: float = 0.0  # seconds between submit and the batch taking it


class MicroBatcher:
    """Runs ``await run(items) -> results`` (same length, same order), batching concurrent requests."""

    def __init__(self, run: Run, parallelism: int = 1, max_batch: int = 64, max_wait_ms: float = 0.0,
                 max_queue: int = 4096, enabled: bool = True,
                 on_batch: Callable[[int], None] | None = None) -> None:
        if parallelism < 1 or max_batch < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("parallelism, max_batch and max_queue must be >= 1, max_wait_ms >= 0")
        self.run, self.parallelism, self.max_batch = run, parallelism, max_batch
        self.max_wait, self.max_queue, self.enabled, self.on_batch = max_wait_ms / 1e3, max_queue, enabled, on_batch
        self._queue: deque[_Request] = deque()
        self.queued = 0       # records waiting for an engine
        self.in_flight = 0    # records in the engines now
        self._wake: asyncio.Event | None = None
        self._slots: asyncio.Semaphore | None = None
        self._task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(self.parallelism)
        self._task = asyncio.get_running_loop().create_task(self._dispatch(), name="taste2vec-batcher")

    async def stop(self) -> None:
        """Stop dispatching; batches already running finish, requests still queued get :class:`Overloaded`."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        for req in self._queue:
            if not req.fut.done():
                req.fut.set_exception(Overloaded(0, self.max_queue))
        self._queue.clear()

    # ------------------------------------------------------------------ requests
    async def submit(self, items: Sequence[Any]) -> list[Any]:
        """The results for ``items``; :class:`Overloaded` when the queue is full."""
        return (await self.submit_timed(items))[0]

    async def submit_timed(self, items: Sequence[Any]) -> tuple[list[Any], float]:
        """The results for ``items`` and the seconds they waited in the queue for an engine."""
        n = len(items)
        if self.queued + self.in_flight + n > self.max_queue:
            raise Overloaded(self.queued + self.in_flight, self.max_queue)
        req = _Request(items, asyncio.get_running_loop().create_future())
        self._queue.append(req)
        self.queued += n
        self._wake.set()
        return await req.fut, req.waited

    def _take(self) -> list[_Request]:
        batch: list[_Request] = []
        size = 0
        now = time.perf_counter()
        while self._queue and (not batch or (self.enabled and size + len(self._queue[0].items) <= self.max_batch)):
            req = self._queue.popleft()
            self.queued -= len(req.items)
            if req.fut.cancelled():  # the client went away while queued
                continue
            req.waited = now - req.submitted
            batch.append(req)
            size += len(req.items)
        return batch

    async def _dispatch(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            await self._slots.acquire()  # an engine is free
            if self.enabled and self.max_wait and self.queued < self.max_batch:
                deadline = loop.time() + self.max_wait
                while self.queued < self.max_batch and (left := deadline - loop.time()) > 0:
                    self._wake.clear()
                    try:
                        await asyncio.wait_for(self._wake.wait(), left)
                    except TimeoutError:
                        break
            batch = self._take()
            if not batch:
                self._slots.release()
                continue
            task = loop.create_task(self._run_batch(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run_batch(self, batch: list[_Request]) -> None:
        flat = [x for req in batch for x in req.items]
        self.in_flight += len(flat)
        if self.on_batch:
            self.on_batch(len(flat))
        try:
            results = await self.run(flat)
        except Exception as e:  # the engine failed for the whole batch: every request gets the error
            for req in batch:
                if not req.fut.done():
                    req.fut.set_exception(e)
            return
        finally:
            self.in_flight -= len(flat)
            self._slots.release()
        i = 0
        for req in batch:
            if not req.fut.done():
                req.fut.set_result(results[i:i + len(req.items)])
            i += len(req.items)

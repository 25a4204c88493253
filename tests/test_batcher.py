"""Micro-batching on its own (asyncio, a fake engine): what gets batched, in what order, and what is refused."""

from __future__ import annotations

import asyncio

import pytest

from taste2vec_backend.server.batcher import MicroBatcher, Overloaded


class FakeEngine:
    """Doubles numbers after a delay; records every call and how many ran at once."""

    def __init__(self, delay: float = 0.01, fail_on: int | None = None) -> None:
        self.delay, self.fail_on = delay, fail_on
        self.calls: list[list[int]] = []
        self.running = self.max_running = 0

    async def __call__(self, items: list[int]) -> list[int]:
        self.calls.append(list(items))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay)
            if self.fail_on is not None and self.fail_on in items:
                raise RuntimeError("engine failed")
            return [2 * x for x in items]
        finally:
            self.running -= 1


def run(coro):
    return asyncio.run(coro)


async def _with(batcher: MicroBatcher, coro_fn):
    batcher.start()
    try:
        return await coro_fn()
    finally:
        await batcher.stop()


def test_concurrent_requests_are_gathered_whole_and_in_order():
    eng = FakeEngine()
    b = MicroBatcher(eng, max_batch=8)
    requests = [[3 * i, 3 * i + 1, 3 * i + 2] for i in range(10)]  # 3 records each
    out = run(_with(b, lambda: asyncio.gather(*(b.submit(r) for r in requests))))
    assert out == [[2 * x for x in r] for r in requests]
    assert len(eng.calls) < len(requests)                  # batched
    assert all(len(c) <= 8 for c in eng.calls)              # never over max_batch ...
    flat = [x for c in eng.calls for x in c]
    assert flat == [x for r in requests for x in r]         # ... arrival order, requests never split
    assert all(len(c) % 3 == 0 for c in eng.calls)
    assert b.queued == 0 and b.in_flight == 0


def test_a_request_larger_than_max_batch_runs_alone():
    eng = FakeEngine()
    b = MicroBatcher(eng, max_batch=4)
    out = run(_with(b, lambda: asyncio.gather(b.submit(list(range(10))), b.submit([100]))))
    assert out == [[2 * x for x in range(10)], [200]]
    assert eng.calls[0] == list(range(10))


def test_batching_off_is_one_call_per_request():
    eng = FakeEngine()
    b = MicroBatcher(eng, max_batch=64, enabled=False)
    run(_with(b, lambda: asyncio.gather(*(b.submit([i, i]) for i in range(12)))))
    assert len(eng.calls) == 12 and all(len(c) == 2 for c in eng.calls)


def test_parallelism_bounds_concurrent_batches():
    for parallelism in (1, 3):
        eng = FakeEngine(delay=0.02)
        b = MicroBatcher(eng, parallelism=parallelism, max_batch=2)
        run(_with(b, lambda: asyncio.gather(*(b.submit([i]) for i in range(20)))))
        assert eng.max_running == parallelism


def test_a_full_queue_refuses_instead_of_waiting():
    eng = FakeEngine(delay=0.05)
    b = MicroBatcher(eng, max_batch=4, max_queue=10)

    async def go():
        results = await asyncio.gather(*(b.submit([i] * 4) for i in range(6)), return_exceptions=True)
        return results

    results = run(_with(b, go))
    refused = [r for r in results if isinstance(r, Overloaded)]
    assert refused and len(refused) < 6 and all(r.retry_after >= 1 for r in refused)
    assert "retry after" in str(refused[0])
    assert sum(len(c) for c in eng.calls) == 4 * (6 - len(refused))


def test_an_engine_failure_reaches_only_its_batch():
    eng = FakeEngine(fail_on=7)
    b = MicroBatcher(eng, max_batch=1)
    results = run(_with(b, lambda: asyncio.gather(*(b.submit([i]) for i in range(10)), return_exceptions=True)))
    assert isinstance(results[7], RuntimeError)
    assert [r for i, r in enumerate(results) if i != 7] == [[2 * i] for i in range(10) if i != 7]


def test_a_cancelled_request_is_not_run():
    eng = FakeEngine(delay=0.05)
    b = MicroBatcher(eng, max_batch=1)

    async def go():
        first = asyncio.ensure_future(b.submit([1]))
        second = asyncio.ensure_future(b.submit([2]))
        await asyncio.sleep(0.01)  # the first is running, the second queued
        second.cancel()
        return await first

    assert run(_with(b, go)) == [2]
    assert eng.calls == [[1]]


def test_max_wait_gathers_requests_that_arrive_apart():
    eng = FakeEngine(delay=0.001)
    b = MicroBatcher(eng, max_batch=8, max_wait_ms=200)

    async def go():
        tasks = []
        for i in range(4):
            tasks.append(asyncio.ensure_future(b.submit([i])))
            await asyncio.sleep(0.01)
        return await asyncio.gather(*tasks)

    assert run(_with(b, go)) == [[0], [2], [4], [6]]
    assert eng.calls == [[0, 1, 2, 3]]


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        MicroBatcher(FakeEngine(), max_batch=0)
    with pytest.raises(ValueError):
        MicroBatcher(FakeEngine(), parallelism=0)

"""Serves the live recommender's work many HTTP requests at a time.

Why: requests that arrive together are cheaper served together than one by one: one recurrent
step for all their events and one transaction, one matrix product and one top-k for all their
recommendations. A batch is every job queued by the time the event loop gets to it, run on the
loop itself: 1,391 requests/s with 32 clients, against 1,148 when each batch went to a thread
(the GIL serialises the two anyway). When the model is held elsewhere (a reload swapping it in),
the batch goes to a thread of its own instead, so the loop keeps reading requests.

Gathering: the batch starts after at least :data:`MIN_PASSES` passes of the loop, and after up
to :data:`MAX_PASSES` while each pass brings more requests. Starting on the first pass split
32 clients' requests into batches of 13 (median; 10th–90th percentile 1–18), and a batch of one
costs nearly what a full one does; with the passes the median batch holds 31 of them (some
stragglers still run alone). Under light load a pass costs microseconds, and a batch is the one
request there is.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from rnnrec.recommender import Recommendation
from rnnrec.serving.live import ApplyResult, HistoryRequest, LiveRecommender, RecommendRequest
from rnnrec.serving.state_store import Event

Job = list[Event] | RecommendRequest | HistoryRequest
MIN_PASSES, MAX_PASSES = 2, 16


class ModelWorker:
    """Queue of jobs for ``live``; used from the event loop only (``run`` is not thread-safe)."""

    def __init__(self, live: LiveRecommender) -> None:
        self.live = live
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="rnnrec-model")
        self._pending: list[tuple[Job, asyncio.Future]] = []
        self._running = False

    async def recommend(self, request: RecommendRequest | HistoryRequest) -> list[Recommendation]:
        return (await self.run([request]))[0]  # type: ignore[return-value]

    async def run(self, jobs: list[Job]) -> list[ApplyResult | list[Recommendation]]:
        """Results of ``jobs``, served one after another in the same batch; the first job's error
        is raised."""
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in jobs]
        self._pending.extend(zip(jobs, futures))
        if not self._running:
            self._running = True
            loop.call_soon(self._gather, loop, 1, len(self._pending))
        results = await asyncio.gather(*futures, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results  # type: ignore[return-value]

    def _gather(self, loop: asyncio.AbstractEventLoop, passes: int, before: int) -> None:
        """Let the loop read requests for a few more passes while they keep coming, then run the batch."""
        grew = len(self._pending) > before
        if passes < MIN_PASSES or (grew and passes < MAX_PASSES):
            loop.call_soon(self._gather, loop, passes + 1, len(self._pending))
            return
        self._start(loop)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        batch, self._pending = self._pending, []
        jobs = [job for job, _ in batch]
        try:
            results = self.live.run_batch(jobs, wait=False)  # on the loop, unless the model is held
        except Exception as exc:  # not one job's fault: every job gets it
            results = [exc] * len(batch)
        if results is not None:
            self._deliver(batch, results)
            self._next(loop)
            return
        done = loop.run_in_executor(self._executor, self.live.run_batch, jobs)
        done.add_done_callback(lambda finished: self._finish(loop, batch, finished))

    def _finish(self, loop: asyncio.AbstractEventLoop, batch: list[tuple[Job, asyncio.Future]],
                finished: asyncio.Future) -> None:
        error = finished.exception()
        self._deliver(batch, [error] * len(batch) if error is not None else finished.result())
        self._next(loop)

    def _deliver(self, batch: list[tuple[Job, asyncio.Future]], results: list) -> None:
        for (_, future), result in zip(batch, results):
            if future.cancelled():  # the client went away
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    def _next(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._pending:
            loop.call_soon(self._start, loop)
        else:
            self._running = False

    def close(self) -> None:
        self._executor.shutdown(wait=True)

"""Dynamic batching: coroutines submit single requests, one model thread runs them in batches.

The model thread never idles while it has work it may run. When it is free it takes, from the
highest-priority *ready* queue (interactive before batch work; between equals, the one waiting
longest), up to ``max_batch_size`` requests. A queue is ready unless a request that is certain
to come is still missing: every declared stream of its kind (a video being propagated, one
request in flight at a time) is waited for, at most ``max_wait_ms`` after its oldest request,
so the videos share a pass. Anything else runs at once: a lone click does not wait for company
that may never come, and requests that arrive while a batch runs form the next batch. A queue
that is not ready never holds up one that is, whatever their priorities, so a click runs between
two track batches and a due track batch does not wait behind a click.

Each kind ("encode", "decode", ...) is batched on its own. A request not started by its deadline
fails with DeadlineExceeded; a batch that raises is retried one request at a time, so a bad input
fails only its own request.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import enum
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from roto_gpu.metrics import BatcherMetrics

log = structlog.get_logger(__name__)

ModelFunction = Callable[[list[Any]], Sequence[Any]]
T = TypeVar("T")


class Priority(enum.IntEnum):
    """Lower runs first."""

    INTERACTIVE = 0
    BATCH = 1


class BatcherError(RuntimeError):
    pass


class QueueFull(BatcherError):
    """The batcher holds ``queue_limit`` waiting requests already; try again later."""


class DeadlineExceeded(BatcherError):
    """The request's deadline passed before the model could start on it."""


class BatcherClosed(BatcherError):
    """The batcher was closed before the request ran."""


class ResultCountMismatch(BatcherError):
    """The model function returned a different number of results than it was given items."""


@dataclass
class RequestTiming:
    """Where one request's time went, filled in by the batcher for a caller that asks (``submit``'s
    ``timing``): waiting in its queue, and its batch's pass through the model function."""

    queued_s: float = 0.0
    model_s: float = 0.0
    batch_size: int = 0


@dataclass(eq=False)
class _Request:
    kind: str
    item: Any
    priority: Priority
    deadline: float | None
    enqueued_at: float
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]
    dequeued: bool = field(default=False)
    timing: RequestTiming | None = None


@dataclass(eq=False)
class _Call:
    """A function to run on the model thread between batches (``Batcher.call``)."""

    fn: Callable[[], Any]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Any]


class Batcher:
    """Owns the model thread; ``functions`` maps each kind to a batched model function, and
    ``on_start`` (e.g. the model's warm-up) runs on that thread before the first batch."""

    def __init__(
        self,
        functions: Mapping[str, ModelFunction],
        *,
        max_batch_size: int = 8,
        max_wait_ms: float = 5.0,
        queue_limit: int = 256,
        metrics: BatcherMetrics | None = None,
        on_start: Callable[[], object] | None = None,
        name: str = "model",
    ) -> None:
        if max_batch_size < 1 or queue_limit < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_size and queue_limit must be >= 1, max_wait_ms >= 0")
        self._functions = dict(functions)
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.queue_limit = queue_limit
        self.metrics = metrics or BatcherMetrics()
        self._queues: dict[tuple[Priority, str], collections.deque[_Request]] = {
            (priority, kind): collections.deque() for priority in Priority for kind in functions
        }
        self._pending = 0
        self._calls: collections.deque[_Call] = collections.deque()
        # kind -> submitters that keep one request of that kind in flight (see ``stream``)
        self._streams: collections.Counter[str] = collections.Counter()
        self._closed = False
        self._on_start = on_start
        # When the model thread started its current call or batch (None: waiting for work).
        self._busy_since: float | None = None
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"{name}-batcher", daemon=True)
        self._thread.start()

    def busy_for_s(self) -> float:
        """How long the model thread has been in its current call or batch (0: idle)."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    @property
    def pending(self) -> int:
        return self._pending

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the model thread, before the next batch, and return its result.

        Build the model this way: on the CPU, torch's kernels ran about 15 % slower on a thread
        other than the one that built the model (SAM2's own propagation, measured here).
        """
        loop = asyncio.get_running_loop()
        call = _Call(fn, loop, loop.create_future())
        with self._cond:
            if self._closed:
                raise BatcherClosed("the batcher is closed")
            self._calls.append(call)
            self._cond.notify()
        result: T = await asyncio.shield(call.future)
        return result

    @contextlib.contextmanager
    def stream(self, kind: str) -> Iterator[None]:
        """Declare a submitter that keeps one ``kind`` request in flight at a time. A batch of
        ``kind`` waits (``max_wait_ms`` at most) until every declared stream has a request in
        it, so that they share a pass; without streams a request runs as soon as the model
        thread is free."""
        if kind not in self._functions:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(self._functions)}")
        with self._cond:
            self._streams[kind] += 1
        try:
            yield
        finally:
            with self._cond:
                self._streams[kind] -= 1
                # Fewer streams to wait for may make a waiting batch due now.
                self._cond.notify()

    @property
    def streams(self) -> dict[str, int]:
        """Declared streams by kind."""
        return {kind: count for kind, count in self._streams.items() if count}

    async def submit(
        self,
        kind: str,
        item: Any,
        *,
        priority: Priority = Priority.BATCH,
        deadline: float | None = None,
        timeout: float | None = None,
        timing: RequestTiming | None = None,
    ) -> Any:
        """Run ``item`` in the next batch of ``kind`` and return its result. ``deadline`` is a
        ``time.monotonic()`` instant, ``timeout`` seconds from now; the earlier one counts.
        ``timing``, when given, is filled in before the result is returned."""
        if kind not in self._functions:
            raise ValueError(f"unknown kind {kind!r}; known: {', '.join(self._functions)}")
        now = time.monotonic()
        if timeout is not None:
            deadline = now + timeout if deadline is None else min(deadline, now + timeout)
        if deadline is not None and deadline <= now:
            self.metrics.requests.labels(kind, "deadline").inc()
            raise DeadlineExceeded(f"{kind} request's deadline passed before it was queued")
        loop = asyncio.get_running_loop()
        request = _Request(
            kind, item, Priority(priority), deadline, now, loop, loop.create_future(), timing=timing
        )
        with self._cond:
            if self._closed:
                raise BatcherClosed("the batcher is closed")
            if self._pending >= self.queue_limit:
                self.metrics.requests.labels(kind, "rejected").inc()
                raise QueueFull(f"{self._pending} requests are waiting for the model; try later")
            self._queues[(request.priority, kind)].append(request)
            self._pending += 1
            self.metrics.queue_depth.set(self._pending)
            self._cond.notify()
        return await self._wait(request)

    async def _wait(self, request: _Request) -> Any:
        try:
            if request.deadline is None:
                return await asyncio.shield(request.future)
            remaining = request.deadline - time.monotonic()
            try:
                async with asyncio.timeout(remaining):
                    return await asyncio.shield(request.future)
            except TimeoutError:
                if self._withdraw(request):
                    self.metrics.requests.labels(request.kind, "deadline").inc()
                    raise DeadlineExceeded(
                        f"{request.kind} request waited past its deadline"
                    ) from None
                # Already running: its answer is on its way and worth more than an error.
                return await asyncio.shield(request.future)
        except asyncio.CancelledError:
            self._withdraw(request)
            raise

    def _withdraw(self, request: _Request) -> bool:
        """Take a request that has not started out of its queue; False if it has started."""
        with self._cond:
            if request.dequeued:
                return False
            queue = self._queues[(request.priority, request.kind)]
            try:
                queue.remove(request)
            except ValueError:
                return False
            self._pending -= 1
            self.metrics.queue_depth.set(self._pending)
            request.dequeued = True
            return True

    async def close(self) -> None:
        """Fail every waiting request with BatcherClosed, finish the running batch, stop."""
        with self._cond:
            self._closed = True
            calls, self._calls = list(self._calls), collections.deque()
            waiting = [r for queue in self._queues.values() for r in queue]
            for queue in self._queues.values():
                queue.clear()
            self._pending = 0
            self.metrics.queue_depth.set(0)
            self._cond.notify_all()
        for request in waiting:
            request.dequeued = True
            self.metrics.requests.labels(request.kind, "closed").inc()
            _deliver(request, error=BatcherClosed("the batcher closed before this request ran"))
        for call in calls:
            _settle(call.loop, call.future, error=BatcherClosed("the batcher closed first"))
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        if self._on_start is not None:
            # A failed warm-up costs speed, not correctness: requests still run and report.
            try:
                self._on_start()
            except Exception:
                log.exception("batcher_on_start_failed")
        while True:
            work = self._next_work()
            if work is None:
                return
            self._busy_since = time.monotonic()
            try:
                if isinstance(work, _Call):
                    self._run_call(work)
                else:
                    self._execute(work)
            finally:
                self._busy_since = None

    def _run_call(self, call: _Call) -> None:
        try:
            result = call.fn()
        except Exception as exc:
            _settle(call.loop, call.future, error=exc)
            return
        _settle(call.loop, call.future, result=result)

    def _next_work(self) -> list[_Request] | _Call | None:
        """Block until a call or a batch is ready (calls first); None once closed."""
        with self._cond:
            while True:
                if self._closed:
                    return None
                if self._calls:
                    return self._calls.popleft()
                now = time.monotonic()
                self._expire(now)
                queue, wake_at = self._ready_queue(now)
                if queue is not None:
                    return self._take(queue, now)
                self._cond.wait(timeout=None if wake_at is None else max(0.0, wake_at - now))

    def _ready_queue(self, now: float) -> tuple[collections.deque[_Request] | None, float | None]:
        """The queue to run now (by priority, then the one waiting longest) among the ready
        ones; else None and when the first waiting queue will be due (None: none waits)."""
        best: tuple[Priority, float] | None = None
        chosen: collections.deque[_Request] | None = None
        wake_at: float | None = None
        for (priority, _), queue in self._queues.items():
            if not queue:
                continue
            due = queue[0].enqueued_at + self.max_wait_s
            if self._is_ready(queue, now, due):
                rank = (priority, queue[0].enqueued_at)
                if best is None or rank < best:
                    best, chosen = rank, queue
            else:
                wake_at = due if wake_at is None else min(wake_at, due)
        return chosen, (None if chosen is not None else wake_at)

    def _is_ready(self, queue: collections.deque[_Request], now: float, due: float) -> bool:
        if len(queue) >= self.max_batch_size or now >= due:
            return True
        # Wait only for requests that are certain to come: every declared stream's.
        expected = self._streams[queue[0].kind]
        return len(queue) >= expected

    def _expire(self, now: float) -> None:
        for queue in self._queues.values():
            expired = [r for r in queue if r.deadline is not None and r.deadline <= now]
            for request in expired:
                queue.remove(request)
                self._pending -= 1
                request.dequeued = True
                self.metrics.requests.labels(request.kind, "deadline").inc()
                _deliver(request, error=DeadlineExceeded("deadline passed before the model ran"))
        self.metrics.queue_depth.set(self._pending)

    def _take(self, queue: collections.deque[_Request], now: float) -> list[_Request]:
        batch = [queue.popleft() for _ in range(min(self.max_batch_size, len(queue)))]
        self._pending -= len(batch)
        self.metrics.queue_depth.set(self._pending)
        for request in batch:
            request.dequeued = True
            self.metrics.queue_wait.labels(request.kind, request.priority.name.lower()).observe(
                now - request.enqueued_at
            )
            if request.timing is not None:
                request.timing.queued_s = now - request.enqueued_at
        return batch

    def _execute(self, batch: list[_Request]) -> None:
        kind = batch[0].kind
        self.metrics.observe_batch(kind, len(batch))
        started = time.monotonic()
        try:
            results = self._call(kind, [r.item for r in batch])
        except ResultCountMismatch as exc:
            log.error("batch_result_count", kind=kind, error=str(exc))
            for request in batch:
                self._fail(request, exc)
            return
        except Exception as exc:
            if len(batch) == 1:
                self._fail(batch[0], exc)
                return
            log.warning("batch_failed_retrying_alone", kind=kind, size=len(batch), error=repr(exc))
            for request in batch:
                self._execute_alone(request)
            return
        model_s = time.monotonic() - started
        for request, result in zip(batch, results, strict=True):
            self._answer(request, result, model_s, len(batch))

    def _execute_alone(self, request: _Request) -> None:
        """Run one request of a failed batch on its own; its timing is this pass's."""
        started = time.monotonic()
        try:
            (result,) = self._call(request.kind, [request.item])
        except Exception as exc:
            self._fail(request, exc)
            return
        self._answer(request, result, time.monotonic() - started, 1)

    def _answer(self, request: _Request, result: Any, model_s: float, batch_size: int) -> None:
        """Deliver ``result``, counted, with the timing of the pass that made it."""
        self.metrics.requests.labels(request.kind, "ok").inc()
        if request.timing is not None:
            request.timing.model_s, request.timing.batch_size = model_s, batch_size
        _deliver(request, result=result)

    def _call(self, kind: str, items: list[Any]) -> Sequence[Any]:
        started = time.monotonic()
        try:
            results = self._functions[kind](items)
        finally:
            self.metrics.model_time.labels(kind).observe(time.monotonic() - started)
        try:
            count = len(results)
        except TypeError:
            raise ResultCountMismatch(
                f"{kind} model function returned {type(results).__name__}, not a sequence"
            ) from None
        if count != len(items):
            raise ResultCountMismatch(
                f"{kind} model function returned {count} results for {len(items)} items"
            )
        return results

    def _fail(self, request: _Request, error: BaseException) -> None:
        self.metrics.requests.labels(request.kind, "error").inc()
        _deliver(request, error=error)


def _deliver(request: _Request, *, result: Any = None, error: BaseException | None = None) -> None:
    """Hand a result to the submitting coroutine's loop from any thread."""
    _settle(request.loop, request.future, result=result, error=error)


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    *,
    result: Any = None,
    error: BaseException | None = None,
) -> None:
    """Set ``future`` (of ``loop``) from any thread, unless it is already done."""

    def settle() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    try:
        loop.call_soon_threadsafe(settle)
    except RuntimeError:
        # The submitter's loop is gone; nobody is left to answer.
        log.debug("batcher_loop_closed")

"""Server-side batching of concurrent Predict calls on the same version and
signature, scheduled the way TF Serving's SharedBatchScheduler does it.

Tasks join their queue's open batch. The open batch is closed when the next
task would not fit in max_batch_size rows (or has other inner dimensions); a
batch thread that is free takes the oldest closed batch, else the open one
once it is full or batch_timeout_micros old. While all batch threads are busy
the open batch keeps growing, so a loaded server runs fewer, bigger batches
rather than timing out small ones. Outputs are split back per task.

One lock guards all queues, and an arrival wakes a batch thread only when it
opens or fills a batch. A thread caller blocks on a per-task lock; a
coroutine caller (the asyncio gRPC front end) awaits a future, and a finished
batch wakes its event loop once for all of its tasks.
"""

import asyncio
import collections
import logging
import threading
import time
import weakref

import grpc
import numpy as np

from serving.errors import ServingError, invalid_argument, unavailable

log = logging.getLogger(__name__)


class _Task:
    __slots__ = ("inputs", "rows", "outputs", "error")

    def __init__(self, inputs, rows):
        self.inputs = inputs
        self.rows = rows
        self.outputs = None
        self.error = None

    def result(self):
        if self.error is not None:
            raise self.error
        return self.outputs


class _ThreadTask(_Task):
    __slots__ = ("_done",)

    def __init__(self, inputs, rows):
        super().__init__(inputs, rows)
        # A bare lock is the cheapest thing a thread can block on; Event
        # wraps one in a Condition.
        self._done = threading.Lock()
        self._done.acquire()

    def wait(self):
        self._done.acquire()

    def finish(self):
        self._done.release()


class _LoopTask(_Task):
    __slots__ = ("future", "_waker")

    def __init__(self, inputs, rows, waker):
        super().__init__(inputs, rows)
        self.future = waker.loop.create_future()
        self._waker = waker

    def finish(self):
        self._waker.resolve(self.future)


class _LoopWaker:
    """Completes futures on their event loop from batch threads, with one
    call_soon_threadsafe for all the tasks of a batch instead of one each."""

    def __init__(self, loop):
        self.loop = loop
        self._lock = threading.Lock()
        self._done = []

    def resolve(self, future):
        with self._lock:
            self._done.append(future)
            if len(self._done) > 1:
                return  # a flush is already scheduled and will take this one
        try:
            self.loop.call_soon_threadsafe(self._flush)
        except RuntimeError:
            pass  # loop closed: the server stopped and nobody waits any more

    def _flush(self):
        with self._lock:
            done, self._done = self._done, []
        for future in done:
            if not future.done():  # cancelled if the client went away
                future.set_result(None)


class _Batch:
    __slots__ = ("tasks", "rows", "shapes", "opened")

    def __init__(self, shapes, opened):
        self.tasks = []
        self.rows = 0
        self.shapes = shapes
        self.opened = opened


class _Queue:
    """Batches for one (servable, signature, outputs) combination."""

    def __init__(self, servable, signature, keys):
        # Weak, so a retired version can be freed; while tasks are queued their
        # callers hold version handles, which keeps it alive.
        self._servable = weakref.ref(servable)
        self.signature = signature
        self.keys = keys
        self.open = None
        self.closed = collections.deque()

    @property
    def servable(self):
        return self._servable()

    def has_work(self):
        return bool(self.closed) or self.open is not None

    def pending_rows(self):
        return sum(b.rows for b in self.closed) + (self.open.rows if self.open else 0)


def _task_rows(inputs):
    rows = set()
    for array in inputs.values():
        if array.ndim == 0:
            raise invalid_argument(
                "Batching Run() input tensors must have at least one dimension")
        rows.add(array.shape[0])
    if len(rows) != 1:
        raise invalid_argument(
            "Batching Run() input tensors must have equal 0th-dimension size")
    return rows.pop()


class Batcher:
    """`observe_runtime(model_name, seconds)`, when given, is called once per task with the time its batch spent
    in the model: TF Serving's runtime latency, which leaves out the wait in the queue."""

    def __init__(self, max_batch_size=1000, batch_timeout_micros=0,
                 max_enqueued_batches=10, num_batch_threads=1,
                 allowed_batch_sizes=(), observe_runtime=None):
        self.max_batch_size = max_batch_size
        self._observe_runtime = observe_runtime
        self.timeout = batch_timeout_micros / 1e6
        self.max_enqueued_batches = max(1, max_enqueued_batches)
        self.allowed = sorted(allowed_batch_sizes)
        self.batches_run = 0  # observable by tests and metrics
        self.rows_run = 0  # real rows (no padding) in those batches
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queues = weakref.WeakKeyDictionary()  # servable -> {key: _Queue}
        self._active = collections.deque()  # queues with work, served round-robin
        self._idle = 0
        self._stopped = False
        self._wakers = {}  # event loop -> _LoopWaker
        self._threads = [
            threading.Thread(target=self._work, daemon=True, name=f"batch-{i}")
            for i in range(max(1, num_batch_threads))
        ]
        for thread in self._threads:
            thread.start()

    def runner(self, servable):
        def run(signature, inputs, keys):
            return self.submit(servable, signature, inputs, keys)
        return run

    def submit(self, servable, signature, inputs, keys):
        rows = _task_rows(inputs)
        if rows > self.max_batch_size:
            # Too big to share a batch; running it alone beats rejecting it.
            return self._timed_run(servable, signature, inputs, keys, 1)
        task = _ThreadTask(inputs, rows)
        self._add(servable, signature, keys, task)
        task.wait()
        return task.result()

    async def submit_async(self, servable, signature, inputs, keys, pool=None):
        """submit() for a coroutine: waits for its batch without a thread;
        a task too big to batch runs on `pool` (an Executor)."""
        rows = _task_rows(inputs)
        loop = asyncio.get_running_loop()
        if rows > self.max_batch_size:
            return await loop.run_in_executor(pool, self._timed_run, servable, signature,
                                              inputs, keys, 1)
        waker = self._wakers.get(loop)
        if waker is None:
            waker = self._wakers.setdefault(loop, _LoopWaker(loop))
        task = _LoopTask(inputs, rows, waker)
        self._add(servable, signature, keys, task)
        await task.future
        return task.result()

    def _add(self, servable, signature, keys, task):
        shapes = sorted((k, v.shape[1:]) for k, v in task.inputs.items())
        with self._lock:
            if self._stopped:
                raise unavailable("The batch scheduler is shutting down")
            self._enqueue(self._queue_for(servable, signature, keys), task, shapes)

    def _queue_for(self, servable, signature, keys):
        per_servable = self._queues.get(servable)
        if per_servable is None:
            per_servable = self._queues[servable] = {}
        key = (signature, tuple(keys))
        target = per_servable.get(key)
        if target is None:
            target = per_servable[key] = _Queue(servable, signature, keys)
        return target

    def _enqueue(self, target, task, shapes):
        """Adds a task to the open batch; the caller holds the lock."""
        batch = target.open
        wake = False
        if batch is not None and (batch.rows + task.rows > self.max_batch_size
                                  or batch.shapes != shapes):
            # Different inner shapes cannot be concatenated: such a task starts
            # a batch of its own, as a task that does not fit would.
            if len(target.closed) + 1 >= self.max_enqueued_batches:
                raise unavailable("The batch scheduling queue to which this task "
                                  "was submitted is full")
            target.closed.append(batch)
            batch, wake = None, True
        if batch is None:
            if not target.has_work():
                self._active.append(target)
            batch = target.open = _Batch(shapes, time.monotonic())
            wake = True  # a new deadline for an idle thread to wait on
        batch.tasks.append(task)
        batch.rows += task.rows
        if batch.rows >= self.max_batch_size or self.timeout <= 0:
            wake = True
        if wake and self._idle:
            self._wake.notify()

    def _take(self, now):
        """(queue, batch, None) for a free thread, or (None, None, seconds to
        wait for the earliest open batch to come due; None = until woken)."""
        wait = None
        for _ in range(len(self._active)):
            target = self._active[0]
            self._active.rotate(-1)
            if target.closed:
                batch = target.closed.popleft()
            else:
                batch = target.open
                due = batch.opened + self.timeout
                if batch.rows < self.max_batch_size and now < due and not self._stopped:
                    wait = due - now if wait is None else min(wait, due - now)
                    continue
                target.open = None
            if not target.has_work():
                self._active.remove(target)
            return target, batch, None
        return None, None, wait

    def _work(self):
        with self._lock:
            while True:
                target, batch, wait = self._take(time.monotonic())
                if target is None:
                    if self._stopped and not self._active:
                        return
                    self._idle += 1
                    self._wake.wait(wait)
                    self._idle -= 1
                    continue
                if self._active and self._idle:
                    self._wake.notify()  # more work, or a deadline to watch
                self._lock.release()
                try:
                    self._run(target, batch.tasks, batch.rows)
                finally:
                    self._lock.acquire()

    def _padded_size(self, rows):
        for size in self.allowed:
            if size >= rows:
                return size
        return rows

    def _run(self, target, tasks, rows):
        size = self._padded_size(rows)
        try:
            merged = {}
            for key, first in tasks[0].inputs.items():
                if len(tasks) == 1 and size == rows:
                    merged[key] = first
                    continue
                parts = [t.inputs[key] for t in tasks]
                if size > rows:
                    parts.append(np.repeat(first[:1], size - rows, axis=0))
                merged[key] = np.concatenate(parts, axis=0)
            outputs = self._timed_run(target.servable, target.signature, merged,
                                      target.keys, len(tasks))
            self.batches_run += 1
            self.rows_run += rows
            if any(np.ndim(v) == 0 or v.shape[0] != size for v in outputs.values()):
                raise invalid_argument(
                    "Batched output tensor's 0th dimension does not equal the sum "
                    "of the 0th dimension sizes of the input tensors")
            offset = 0
            for task in tasks:
                end = offset + task.rows
                task.outputs = {k: v[offset:end] for k, v in outputs.items()}
                offset = end
        except ServingError as exc:
            for task in tasks:
                task.error = exc
        except Exception as exc:  # keep the worker alive whatever the model does
            for task in tasks:
                task.error = ServingError(grpc.StatusCode.INTERNAL, str(exc))
        finally:
            for task in tasks:
                task.finish()

    def _timed_run(self, servable, signature, inputs, keys, tasks):
        """servable.run, its duration reported once for each of the `tasks` it serves."""
        start = time.perf_counter()
        try:
            return servable.run(signature, inputs, keys)
        finally:
            if self._observe_runtime is not None:
                seconds = time.perf_counter() - start
                for _ in range(tasks):
                    self._observe_runtime(servable.name, seconds)

    def pending_rows(self):
        """Rows queued and not yet running, across all queues."""
        with self._lock:
            return sum(q.pending_rows() for q in self._active)

    def stop(self):
        """Runs what is queued, then ends the batch threads."""
        with self._lock:
            self._stopped = True
            self._wake.notify_all()
        if self.batches_run:
            # How well requests were merged is the first thing to check when
            # batching does not pay off.
            log.info("Batching: %d batches, %.1f rows per batch", self.batches_run,
                     self.rows_run / self.batches_run)

"""Server-side batching of concurrent Predict calls on the same version and
signature: tasks are merged along dimension 0 until max_batch_size rows are
queued or batch_timeout_micros has passed since the first one arrived, run
once, and the outputs are split back per task."""

import queue
import threading
import time
import weakref

import grpc
import numpy as np

from serving.errors import ServingError, invalid_argument, unavailable


class _Task:
    def __init__(self, inputs, rows):
        self.inputs = inputs
        self.rows = rows
        self.done = threading.Event()
        self.outputs = None
        self.error = None


class _Queue:
    """Pending tasks for one (servable, signature, outputs) combination."""

    def __init__(self, servable, signature, keys):
        # Weak, so a retired version can be freed; while tasks are queued their
        # callers hold version handles, which keeps it alive.
        self._servable = weakref.ref(servable)
        self.signature = signature
        self.keys = keys
        self.lock = threading.Condition()
        self.pending = []
        self.first_arrival = None
        self.scheduled = False

    @property
    def servable(self):
        return self._servable()


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
    def __init__(self, max_batch_size=1000, batch_timeout_micros=0,
                 max_enqueued_batches=10, num_batch_threads=1,
                 allowed_batch_sizes=()):
        self.max_batch_size = max_batch_size
        self.timeout = batch_timeout_micros / 1e6
        self.max_pending = max_batch_size * max_enqueued_batches
        self.allowed = sorted(allowed_batch_sizes)
        self.batches_run = 0  # observable by tests and metrics
        self._ready = queue.Queue()
        self._queues = weakref.WeakKeyDictionary()  # servable -> {key: _Queue}
        self._queues_lock = threading.Lock()
        self._stopped = False
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

    def _queue_for(self, servable, signature, keys):
        with self._queues_lock:
            per_servable = self._queues.setdefault(servable, {})
            key = (signature, tuple(keys))
            if key not in per_servable:
                per_servable[key] = _Queue(servable, signature, keys)
            return per_servable[key]

    def submit(self, servable, signature, inputs, keys):
        rows = _task_rows(inputs)
        if rows > self.max_batch_size:
            # Too big to share a batch; running it alone beats rejecting it.
            return servable.run(signature, inputs, keys)
        target = self._queue_for(servable, signature, keys)
        task = _Task(inputs, rows)
        with target.lock:
            if sum(t.rows for t in target.pending) + rows > self.max_pending:
                raise unavailable("The batch scheduling queue to which this task "
                                  "was submitted is full")
            target.pending.append(task)
            if target.first_arrival is None:
                target.first_arrival = time.monotonic()
            if not target.scheduled:
                target.scheduled = True
                self._ready.put(target)
            target.lock.notify_all()
        task.done.wait()
        if task.error is not None:
            raise task.error
        return task.outputs

    def _work(self):
        while True:
            target = self._ready.get()
            if target is None:
                return
            batch = self._collect(target)
            if batch:
                self._run(target, batch)

    def _collect(self, target):
        """Waits until the batch is full or timed out, then takes it."""
        with target.lock:
            deadline = target.first_arrival + self.timeout
            while (sum(t.rows for t in target.pending) < self.max_batch_size
                   and time.monotonic() < deadline and not self._stopped):
                target.lock.wait(deadline - time.monotonic())
            batch, rows = [], 0
            shapes = None
            for task in list(target.pending):
                task_shapes = {k: v.shape[1:] for k, v in task.inputs.items()}
                if rows + task.rows > self.max_batch_size:
                    break
                if shapes is not None and task_shapes != shapes:
                    break  # different inner shapes cannot be concatenated
                shapes = task_shapes
                batch.append(task)
                rows += task.rows
            del target.pending[:len(batch)]
            if target.pending:
                target.first_arrival = time.monotonic()
                self._ready.put(target)
            else:
                target.first_arrival = None
                target.scheduled = False
            return batch

    def _padded_size(self, rows):
        for size in self.allowed:
            if size >= rows:
                return size
        return rows

    def _run(self, target, batch):
        rows = sum(t.rows for t in batch)
        size = self._padded_size(rows)
        merged = {}
        for key in batch[0].inputs:
            parts = [t.inputs[key] for t in batch]
            if size > rows:
                parts.append(np.repeat(parts[0][:1], size - rows, axis=0))
            merged[key] = np.concatenate(parts, axis=0)
        try:
            outputs = target.servable.run(target.signature, merged, target.keys)
            self.batches_run += 1
            if any(np.ndim(v) == 0 or v.shape[0] != size for v in outputs.values()):
                raise invalid_argument(
                    "Batched output tensor's 0th dimension does not equal the sum "
                    "of the 0th dimension sizes of the input tensors")
            offset = 0
            for task in batch:
                task.outputs = {k: v[offset:offset + task.rows]
                                for k, v in outputs.items()}
                offset += task.rows
        except ServingError as exc:
            for task in batch:
                task.error = exc
        except Exception as exc:  # keep the worker alive whatever the model does
            for task in batch:
                task.error = ServingError(grpc.StatusCode.INTERNAL, str(exc))
        finally:
            for task in batch:
                task.done.set()

    def pending_rows(self):
        """Rows queued and not yet running, across all queues."""
        with self._queues_lock:
            queues = [q for per in self._queues.values() for q in per.values()]
        total = 0
        for target in queues:
            with target.lock:
                total += sum(t.rows for t in target.pending)
        return total

    def stop(self):
        self._stopped = True
        for _ in self._threads:
            self._ready.put(None)

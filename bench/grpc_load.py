"""Asyncio gRPC load for bench/serving.py: N concurrent clients, each on its
own channel (own HTTP/2 connection) with one Predict in flight, as coroutines
on one event loop.

Why not threads: against a server that answers instantly, 32 client threads
under one GIL spent 150-230 us of CPU per call and these coroutines 115-145 us
(docs/benchmarks.md, "Serving"). On a 2-core box that CPU is taken from the
server being measured; the requests and their concurrency are the same.
"""

import asyncio
import time

import grpc
from tensorflow_serving.apis import prediction_service_pb2_grpc


def hammer(target, request, clients, seconds, events=()):
    """Like bench/serving.py's thread hammer: ([(start, latency)], errors).
    events: [(seconds after start, blocking callable)], run on a thread."""
    samples, errors, kinds = asyncio.run(_hammer(target, request, clients, seconds,
                                                 events))
    if kinds:
        print(f"# errors: {kinds}", flush=True)
    return samples, errors


async def _hammer(target, request, clients, seconds, events):
    channels = [grpc.aio.insecure_channel(target,
                                          options=[("grpc.use_local_subchannel_pool", 1)])
                for _ in range(clients)]
    kinds = {}
    try:
        await asyncio.gather(*(channel.channel_ready() for channel in channels))
        began = time.perf_counter()
        deadline = began + seconds

        async def client(stub):
            local, failed = [], 0
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                try:
                    await stub.Predict(request, timeout=10)
                except Exception as exc:  # counted, not raised: the bench measures failures
                    failed += 1
                    kind = f"{type(exc).__name__}: {str(exc)[:120]}"
                    kinds[kind] = kinds.get(kind, 0) + 1
                    continue
                local.append((start, time.perf_counter() - start))
            return local, failed

        async def timeline():
            for action_at, action in events:
                await asyncio.sleep(max(0.0, action_at - (time.perf_counter() - began)))
                await asyncio.to_thread(action)

        stubs = [prediction_service_pb2_grpc.PredictionServiceStub(c) for c in channels]
        _, *results = await asyncio.gather(timeline(), *(client(stub) for stub in stubs))
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
    samples = [sample for local, _ in results for sample in local]
    return samples, sum(failed for _, failed in results), kinds

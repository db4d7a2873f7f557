"""A PredictionService that answers every Predict with one canned response,
on grpc.aio like the embedded server's batching front end: what the load
generator and Python gRPC cost when the server does no work. bench/serving.py
runs it as its "ceiling" rows; no model server can beat them on that box.

    python bench/canned_grpc.py --port PORT --response FILE  (a serialized PredictResponse)
"""

import argparse
import asyncio

import grpc
from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc


class CannedPrediction(prediction_service_pb2_grpc.PredictionServiceServicer):
    def __init__(self, response):
        self._response = response

    async def Predict(self, request, context):
        return self._response


async def serve(port, response):
    server = grpc.aio.server()
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        CannedPrediction(response), server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("CANNED-SERVER-LISTENING", flush=True)
    await server.wait_for_termination()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--response", required=True)
    args = parser.parse_args()
    with open(args.response, "rb") as handle:
        response = predict_pb2.PredictResponse.FromString(handle.read())
    asyncio.run(serve(args.port, response))


if __name__ == "__main__":
    main()

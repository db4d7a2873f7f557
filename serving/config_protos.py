"""BatchingParameters, MonitoringConfig and SSLConfig message classes.

The tensorflow-serving-api wheel ships only the apis/ and some config/ protos;
these three are missing from it, so they are rebuilt here from the upstream
.proto definitions (same package, names and field numbers), which keeps the
text files written for the real tensorflow_model_server valid here too.
"""

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf import wrappers_pb2  # noqa: F401  registers wrappers.proto

_FILE_NAME = "serving_embedded/tf_serving_extra_configs.proto"
_PACKAGE = "tensorflow.serving"

_T = descriptor_pb2.FieldDescriptorProto
_INT64 = ".google.protobuf.Int64Value"
_STRING = ".google.protobuf.StringValue"
# (message, [(field, number, type, label, type_name)])
_MESSAGES = [
    ("BatchingParameters", [
        ("max_batch_size", 1, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, _INT64),
        ("batch_timeout_micros", 2, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, _INT64),
        ("max_enqueued_batches", 3, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, _INT64),
        ("num_batch_threads", 4, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, _INT64),
        ("thread_pool_name", 5, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL, _STRING),
        ("allowed_batch_sizes", 6, _T.TYPE_INT64, _T.LABEL_REPEATED, None),
        ("pad_variable_length_inputs", 7, _T.TYPE_BOOL, _T.LABEL_OPTIONAL, None),
    ]),
    ("PrometheusConfig", [
        ("enable", 1, _T.TYPE_BOOL, _T.LABEL_OPTIONAL, None),
        ("path", 2, _T.TYPE_STRING, _T.LABEL_OPTIONAL, None),
    ]),
    ("MonitoringConfig", [
        ("prometheus_config", 1, _T.TYPE_MESSAGE, _T.LABEL_OPTIONAL,
         ".tensorflow.serving.PrometheusConfig"),
    ]),
    ("SSLConfig", [
        ("server_key", 1, _T.TYPE_STRING, _T.LABEL_OPTIONAL, None),
        ("server_cert", 2, _T.TYPE_STRING, _T.LABEL_OPTIONAL, None),
        ("custom_ca", 3, _T.TYPE_STRING, _T.LABEL_OPTIONAL, None),
        ("client_verify", 4, _T.TYPE_BOOL, _T.LABEL_OPTIONAL, None),
    ]),
]


def _build():
    pool = descriptor_pool.Default()
    try:
        pool.FindFileByName(_FILE_NAME)
    except KeyError:
        file_proto = descriptor_pb2.FileDescriptorProto(
            name=_FILE_NAME, package=_PACKAGE, syntax="proto3",
            dependency=["google/protobuf/wrappers.proto"])
        for message_name, fields in _MESSAGES:
            message = file_proto.message_type.add(name=message_name)
            for name, number, field_type, label, type_name in fields:
                field = message.field.add(name=name, number=number,
                                          type=field_type, label=label,
                                          json_name=_camel(name))
                if type_name:
                    field.type_name = type_name
        pool.Add(file_proto)
    return {
        name: message_factory.GetMessageClass(
            pool.FindMessageTypeByName(f"{_PACKAGE}.{name}"))
        for name, _ in _MESSAGES
    }


def _camel(name):
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


_CLASSES = _build()
BatchingParameters = _CLASSES["BatchingParameters"]
PrometheusConfig = _CLASSES["PrometheusConfig"]
MonitoringConfig = _CLASSES["MonitoringConfig"]
SSLConfig = _CLASSES["SSLConfig"]

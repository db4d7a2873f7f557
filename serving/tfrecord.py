"""The TFRecord file format, written and read without TensorFlow: the request logger and the logging proxy need
no TensorFlow runtime to append records, and readers must survive a file whose last record is still being
written (or was cut by a full disk or a crash).

Each record: uint64 length, uint32 masked CRC-32C of the length, the bytes, uint32 masked CRC-32C of the bytes
(tensorflow/core/lib/io/record_writer.cc), so tf.data.TFRecordDataset reads these files as its own.
"""

import struct
from typing import BinaryIO, Iterator

import google_crc32c

_MASK_DELTA = 0xA282EAD8
_LENGTH = struct.Struct("<Q")
_CRC = struct.Struct("<I")


def masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame(payload: bytes) -> bytes:
    """One record, ready to append to a TFRecord file."""
    length = _LENGTH.pack(len(payload))
    return b"".join((length, _CRC.pack(masked_crc(length)), payload, _CRC.pack(masked_crc(payload))))


class CorruptRecordError(ValueError):
    """A record whose checksum does not match: the file was damaged, not merely cut short."""


def read_records(stream: BinaryIO, check: bool = True) -> Iterator[bytes]:
    """The complete records of a TFRecord stream. An incomplete record at the end (a file still being written, or
    cut) ends the iteration quietly; a record that is complete but corrupt raises CorruptRecordError."""
    while True:
        header = stream.read(_LENGTH.size + _CRC.size)
        if len(header) < _LENGTH.size + _CRC.size:
            return
        length_bytes, length_crc = header[:_LENGTH.size], _CRC.unpack(header[_LENGTH.size:])[0]
        if check and masked_crc(length_bytes) != length_crc:
            raise CorruptRecordError(f"record length checksum mismatch at offset {stream.tell() - len(header)}")
        (length,) = _LENGTH.unpack(length_bytes)
        body = stream.read(length + _CRC.size)
        if len(body) < length + _CRC.size:
            return
        payload = body[:length]
        if check and masked_crc(payload) != _CRC.unpack(body[length:])[0]:
            raise CorruptRecordError(f"record checksum mismatch at offset {stream.tell() - len(body)}")
        yield payload

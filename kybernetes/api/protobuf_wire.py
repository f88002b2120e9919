"""The protobuf wire format, read: varints and length-delimited fields.

The lowest layer of ``kybernetes.api.protobuf``: it knows field numbers and
wire types, nothing of Kubernetes. kubectl's generator commands send their
bodies as Kubernetes protobuf (gogo-protobuf, proto2), which writes only wire
types 0 (varint), 1 (64-bit), 2 (length-delimited) and 5 (32-bit).
"""

from __future__ import annotations

import struct
from typing import Iterator, NamedTuple

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5


class ProtobufError(ValueError):
    """A request body that is not valid (Kubernetes) protobuf; the server answers 400."""


class Field(NamedTuple):
    number: int
    wire_type: int
    # int for VARINT, FIXED64 and FIXED32 (the raw unsigned bits), bytes for LEN.
    value: int | bytes


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The unsigned varint at ``pos`` and the position after it."""
    result = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise ProtobufError("varint longer than 10 bytes")


def fields(data: bytes) -> Iterator[Field]:
    """Every field of one message, in wire order."""
    pos = 0
    end = len(data)
    while pos < end:
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
            yield Field(number, wire_type, value)
        elif wire_type == LEN:
            size, pos = read_varint(data, pos)
            if pos + size > end:
                raise ProtobufError(f"field {number}: length {size} runs past the end of the message")
            yield Field(number, wire_type, data[pos:pos + size])
            pos += size
        elif wire_type == FIXED64:
            if pos + 8 > end:
                raise ProtobufError(f"field {number}: truncated 64-bit value")
            yield Field(number, wire_type, int.from_bytes(data[pos:pos + 8], "little"))
            pos += 8
        elif wire_type == FIXED32:
            if pos + 4 > end:
                raise ProtobufError(f"field {number}: truncated 32-bit value")
            yield Field(number, wire_type, int.from_bytes(data[pos:pos + 4], "little"))
            pos += 4
        else:
            # Groups (3, 4) are proto1 relics no Kubernetes type uses.
            raise ProtobufError(f"field {number}: unsupported wire type {wire_type}")


def packed_varints(data: bytes) -> list[int]:
    """The values of a packed repeated varint field."""
    values = []
    pos = 0
    while pos < len(data):
        value, pos = read_varint(data, pos)
        values.append(value)
    return values


def signed(value: int, bits: int) -> int:
    """Two's complement: Go writes a negative int32 as its 64-bit sign extension."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def double(bits: int) -> float:
    return struct.unpack("<d", bits.to_bytes(8, "little"))[0]


def float32(bits: int) -> float:
    return struct.unpack("<f", bits.to_bytes(4, "little"))[0]

#!/usr/bin/env python3
"""Writes the grpc_requests seed inputs: one selector byte (the RPC, as the
target reads it) followed by a valid protobuf message of consent.v1.
Run from this directory: python3 make_grpc_seeds.py"""

import os


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def field(number, value):
    """A field: int/bool as varint, str/bytes as length-delimited, list of
    fields (a nested message) as bytes."""
    if isinstance(value, bool) or isinstance(value, int):
        return varint(number << 3) + varint(int(value))
    if isinstance(value, str):
        value = value.encode()
    return varint(number << 3 | 2) + varint(len(value)) + value


def msg(*fields):
    return b"".join(fields)


def identity(ns, value):
    return msg(field(1, ns), field(2, value))


def subject_identity(ns, value):
    return msg(field(2, identity(ns, value)))


def timestamp(seconds, nanos=0):
    return msg(field(1, seconds), field(2, nanos)) if nanos else msg(field(1, seconds))


EVIDENCE = msg(
    field(1, "Mozilla/5.0"), field(2, "203.0.113.7"), field(3, "https://shop.example"),
    field(4, msg(field(1, "DK"), field(2, "84"), field(3, "Copenhagen"))),
    field(5, "v1"), field(6, "p1"), field(7, "clicked"), field(8, '{"k":1}'), field(9, "c-1"),
)
SUBJECT_ID = "0190d4a2-7b3f-7d00-8a11-5c0ffee0cafe"

SEEDS = {
    "record_one": (0, msg(
        field(1, identity("email", "a@example.com")),
        field(2, msg(field(1, "marketing"), field(3, 1))),
        field(5, "web"))),
    "record_full": (0, msg(
        field(1, identity("email", " A@Example.com ")),
        field(1, identity("user_id", "u-1")),
        field(2, msg(field(1, "marketing"), field(2, "newsletter"), field(3, 2))),
        field(2, msg(field(1, "analytics"), field(3, 3))),
        field(3, timestamp(1_700_000_000, 5)), field(4, timestamp(1_900_000_000)),
        field(5, "web"), field(6, EVIDENCE), field(7, "idem-1"))),
    "update_identity": (1, msg(
        field(1, subject_identity("email", "a@example.com")), field(2, "marketing"),
        field(4, 2), field(5, timestamp(1_900_000_000)), field(6, EVIDENCE), field(7, 1),
        field(8, "idem-2"), field(9, timestamp(1_700_000_100)), field(10, "app"))),
    "update_id": (1, msg(
        field(1, msg(field(1, SUBJECT_ID))), field(2, "marketing"), field(3, "newsletter"), field(4, 1))),
    "check_identity": (2, msg(
        field(1, subject_identity("email", "a@example.com")), field(2, "marketing"))),
    "check_at": (2, msg(
        field(1, msg(field(1, SUBJECT_ID))), field(2, "marketing"), field(3, "newsletter"),
        field(4, timestamp(1_800_000_000)), field(5, 3))),
    "query_all": (3, msg(field(14, True), field(15, 2))),
    "query_filter": (3, msg(
        field(2, identity("email", "a@example.com")), field(3, "marketing"), field(4, "newsletter"),
        field(5, 1), field(6, "web"), field(7, timestamp(1_600_000_000)), field(8, timestamp(1_900_000_000)),
        field(9, "203.0.113.7"), field(10, "Mozilla/5.0"), field(11, "DK"), field(12, "84"),
        field(13, "Copenhagen"), field(15, 1), field(16, "eyJ2IjoxLCJxIjoiIiwiciI6MX0"))),
    "query_subject": (3, msg(field(1, SUBJECT_ID), field(14, False))),
    "get_id": (4, msg(field(1, SUBJECT_ID))),
    "get_current": (4, msg(field(2, msg(
        field(1, subject_identity("email", "a@example.com")), field(2, "marketing"))))),
    "erase_identity": (7, msg(field(1, subject_identity("email", "a@example.com")))),
    "erase_id": (7, msg(field(1, msg(field(1, SUBJECT_ID))))),
    "subscribe_now": (8, msg(field(2, identity("email", "a@example.com")), field(3, "marketing"))),
    "subscribe_all": (8, msg(
        field(1, SUBJECT_ID), field(3, "marketing"), field(4, "newsletter"), field(5, "web"),
        field(7, True))),
    "subscribe_after": (8, msg(field(6, 1), field(8, "token"))),
}

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpc_requests")
    os.makedirs(out, exist_ok=True)
    for name, (selector, body) in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(bytes([selector]) + body)

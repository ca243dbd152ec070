#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_nbd_conn: valid client streams (handshake, then requests) for
the box's exports vol0 (64 MiB, 4 MiB objects) and vol1 (4 MiB). The fuzzer mutates from these,
so every seed must be accepted by a correct server up to its last request.

usage: gen_nbd_corpus.py [DIR]   (default: corpus/nbd_conn next to this script)
Files are named seed-*; files the fuzzer added (other names) are left alone."""
import struct

from corpus_seeds import write_seeds

IHAVEOPT = 0x49484156454F5054
REQUEST_MAGIC = 0x25609513
FLAG_C_FIXED_NEWSTYLE, FLAG_C_NO_ZEROES = 1, 2
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_STARTTLS, OPT_INFO, OPT_GO = 1, 2, 3, 5, 6, 7
OPT_STRUCTURED_REPLY, OPT_LIST_META_CONTEXT, OPT_SET_META_CONTEXT = 8, 9, 10
INFO_EXPORT, INFO_NAME, INFO_DESCRIPTION, INFO_BLOCK_SIZE = 0, 1, 2, 3
READ, WRITE, DISC, FLUSH, TRIM, CACHE, WRITE_ZEROES, BLOCK_STATUS = 0, 1, 2, 3, 4, 5, 6, 7
F_FUA, F_NO_HOLE, F_DF, F_REQ_ONE, F_FAST_ZERO = 1, 2, 4, 8, 16

MiB = 1 << 20
OBJ = 4 * MiB
VOL0 = 64 * MiB
VOL1 = 4 * MiB


def client_flags(no_zeroes=True):
    return struct.pack(">I", FLAG_C_FIXED_NEWSTYLE | (FLAG_C_NO_ZEROES if no_zeroes else 0))


def option(opt, payload=b""):
    return struct.pack(">QII", IHAVEOPT, opt, len(payload)) + payload


def go_payload(name, infos=()):
    n = name.encode()
    return struct.pack(">I", len(n)) + n + struct.pack(">H", len(infos)) + b"".join(
        struct.pack(">H", i) for i in infos)


def meta_payload(name, queries):
    n = name.encode()
    out = struct.pack(">I", len(n)) + n + struct.pack(">I", len(queries))
    for q in queries:
        out += struct.pack(">I", len(q)) + q.encode()
    return out


def req(kind, offset=0, length=0, flags=0, cookie=None, payload=None):
    """One request; a WRITE gets a payload of its length unless one is given."""
    if cookie is None:
        req.cookie += 1
        cookie = req.cookie
    out = struct.pack(">IHHQQI", REQUEST_MAGIC, flags, kind, cookie, offset, length)
    if kind == WRITE:
        if payload is None:
            payload = bytes((i * 13 + cookie) & 0xFF for i in range(length))
        out += payload
    return out


req.cookie = 0


def hs_structured(export="vol0"):
    return (client_flags() + option(OPT_STRUCTURED_REPLY) +
            option(OPT_SET_META_CONTEXT, meta_payload(export, ["base:allocation"])) +
            option(OPT_GO, go_payload(export, [INFO_NAME, INFO_BLOCK_SIZE])))


def hs_simple(export="vol0"):
    return client_flags() + option(OPT_GO, go_payload(export))


def hs_export_name(export="vol0", no_zeroes=True):
    return client_flags(no_zeroes) + option(OPT_EXPORT_NAME, export.encode())


def hs_everything():
    """What a careful client asks before it starts: LIST, INFO, meta contexts, then GO."""
    return (client_flags() + option(OPT_LIST) +
            option(OPT_INFO, go_payload("vol0", [INFO_EXPORT, INFO_NAME, INFO_DESCRIPTION,
                                                 INFO_BLOCK_SIZE])) +
            option(OPT_LIST_META_CONTEXT, meta_payload("vol0", [])) +
            option(OPT_LIST_META_CONTEXT, meta_payload("vol0", ["base:"])) +
            option(OPT_STRUCTURED_REPLY) +
            option(OPT_SET_META_CONTEXT, meta_payload("vol0", ["base:allocation", "x:y"])) +
            option(OPT_GO, go_payload("vol0", [INFO_BLOCK_SIZE])))


def seeds():
    s = {}
    # Handshakes alone, and the refusals on the way.
    s["hs-structured-go"] = hs_structured() + req(DISC)
    s["hs-simple-go"] = hs_simple() + req(DISC)
    s["hs-export-name"] = hs_export_name() + req(DISC)
    s["hs-export-name-zeroes"] = hs_export_name(no_zeroes=False) + req(DISC)
    s["hs-everything"] = hs_everything() + req(DISC)
    s["hs-vol1"] = hs_structured("vol1") + req(READ, 0, 4096) + req(DISC)
    s["hs-refusals"] = (client_flags() + option(OPT_STARTTLS) + option(99, b"junk") +
                        option(OPT_LIST, b"x") + option(OPT_STRUCTURED_REPLY, b"x") +
                        option(OPT_SET_META_CONTEXT, meta_payload("vol0", ["base:allocation"])) +
                        option(OPT_GO, go_payload("nosuch")) +
                        option(OPT_INFO, b"\x00\x00\x00\x09vol0") +
                        option(OPT_GO, go_payload("vol0")) + req(DISC))
    s["hs-abort"] = client_flags() + option(OPT_LIST) + option(OPT_ABORT)
    s["hs-export-name-unknown"] = hs_export_name("nosuch")
    s["hs-meta-other-export"] = (
        client_flags() + option(OPT_STRUCTURED_REPLY) +
        option(OPT_SET_META_CONTEXT, meta_payload("vol1", ["base:allocation"])) +
        option(OPT_GO, go_payload("vol0")) + req(BLOCK_STATUS, 0, OBJ) + req(DISC))
    s["hs-option-too-big"] = client_flags() + struct.pack(">QII", IHAVEOPT, OPT_GO, 65 * 1024 + 1)

    # Transmission with structured replies and base:allocation.
    h = hs_structured()
    s["rw-small"] = (h + req(WRITE, 0, 4096) + req(READ, 0, 4096) + req(FLUSH) +
                     req(READ, 8192, 512, F_DF) + req(DISC))
    s["rw-fua"] = h + req(WRITE, 8 * MiB, 8192, F_FUA) + req(READ, 8 * MiB, 8192) + req(DISC)
    s["rw-across-objects"] = (h + req(WRITE, OBJ - 512, 1024) + req(READ, OBJ - 4096, 8192) +
                              req(WRITE, 3 * OBJ - 100, 300, F_FUA) + req(READ, 3 * OBJ - 1000, 2000) +
                              req(DISC))
    s["read-holes-and-data"] = (h + req(READ, 0, 128 * 1024) + req(READ, OBJ * 5, 65536) +
                                req(READ, OBJ - 65536, 131072) + req(READ, VOL0 - 512, 512) +
                                req(DISC))
    s["trim"] = (h + req(WRITE, 2 * OBJ, 4096) + req(TRIM, 2 * OBJ, OBJ) + req(READ, 2 * OBJ, 4096) +
                 req(TRIM, 100, 5000) + req(TRIM, OBJ - 4096, 8192, F_FUA) + req(DISC))
    s["write-zeroes"] = (h + req(WRITE, 6 * OBJ, 4096) + req(WRITE_ZEROES, 6 * OBJ, OBJ) +
                         req(WRITE_ZEROES, 0, 4096, F_NO_HOLE) +
                         req(WRITE_ZEROES, OBJ - 2048, 4096, F_NO_HOLE | F_FUA) +
                         req(WRITE_ZEROES, 7 * OBJ, 2 * OBJ, F_FAST_ZERO) +
                         req(READ, 6 * OBJ, 4096) + req(DISC))
    s["block-status"] = (h + req(BLOCK_STATUS, 0, VOL0) + req(BLOCK_STATUS, 0, VOL0, F_REQ_ONE) +
                         req(BLOCK_STATUS, OBJ - 1, 2) + req(BLOCK_STATUS, VOL0 - 1, 1) +
                         req(DISC))
    s["cache"] = h + req(CACHE, 0, 2 * OBJ) + req(CACHE, VOL0 - 4096, 4096) + req(DISC)
    s["out-of-range"] = (h + req(READ, VOL0, 512) + req(READ, VOL0 - 512, 1024) +
                         req(WRITE, VOL0 - 100, 200) + req(TRIM, VOL0, 1) +
                         req(WRITE_ZEROES, VOL0 - 1, 2) + req(CACHE, VOL0, 1) +
                         req(BLOCK_STATUS, VOL0, 1) + req(BLOCK_STATUS, 0, 0) +
                         req(READ, 2**64 - 512, 1024) + req(READ, 0, 33 * MiB) +
                         req(DISC))
    s["bad-commands"] = (h + req(9, 0, 512) + req(READ, 0, 512, F_NO_HOLE) +
                         req(FLUSH, 0, 0, F_REQ_ONE) + req(WRITE, 0, 16, 1 << 15) +
                         req(READ, 0, 512) + req(DISC))
    s["write-too-big"] = h + req(WRITE, 0, 33 * MiB, payload=b"")
    s["pipelined"] = h + b"".join(req(READ, i * 65536, 4096) for i in range(64)) + b"".join(
        req(WRITE, OBJ * 8 + i * 4096, 512) for i in range(32)) + req(FLUSH) + req(DISC)
    s["disc-in-flight"] = h + req(WRITE, 9 * OBJ, 16384, F_FUA) + req(READ, 0, 65536) + req(DISC)
    s["bad-magic"] = h + req(READ, 0, 512) + b"\x00" * 28
    s["eof-in-payload"] = h + req(WRITE, 0, 8192, payload=b"\x55" * 1000)
    s["eof-in-header"] = h + req(READ, 0, 512)[:20]
    s["vol1-full"] = (hs_structured("vol1") + req(WRITE, 0, 16384) + req(WRITE, VOL1 - 4096, 4096) +
                      req(WRITE_ZEROES, 0, VOL1) + req(TRIM, 0, VOL1) +
                      req(BLOCK_STATUS, 0, VOL1) + req(READ, 0, 65536) + req(DISC))

    # Simple replies (no structured reply negotiated).
    h = hs_simple()
    s["simple-rw"] = (h + req(WRITE, 4096, 4096) + req(READ, 4096, 4096) + req(FLUSH) +
                      req(TRIM, 0, OBJ) + req(WRITE_ZEROES, OBJ, 8192, F_NO_HOLE) +
                      req(CACHE, 0, OBJ) + req(DISC))
    s["simple-errors"] = (h + req(READ, VOL0, 512) + req(BLOCK_STATUS, 0, 4096) +
                          req(READ, 0, 512, F_DF) + req(READ, 0, 512) + req(DISC))
    h = hs_export_name()
    s["export-name-rw"] = (h + req(WRITE, 12 * OBJ, 4096) + req(READ, 12 * OBJ - 2048, 4096) +
                           req(DISC))
    return s


def main():
    write_seeds("nbd_conn", seeds())


if __name__ == "__main__":
    main()

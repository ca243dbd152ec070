#!/usr/bin/python3
"""Broken and hostile clients for the resource-limit tests, over raw sockets.

Each mode opens its connections, misbehaves for HOLD seconds, prints one summary line and exits:

  nbd-unread-reads PORT EXPORT CONNS LEN HOLD   READs of LEN bytes, replies never read
  nbd-option-flood PORT CONNS HOLD              NBD_OPT_LIST without end, replies never read
  ctl-partial PORT CONNS HOLD                   one byte of a control frame, then nothing
  ctl-slowloris PORT CONNS HOLD                 a valid request, one byte per second
  rss PID SECONDS                               the largest VmRSS (KiB) seen over SECONDS
"""
import socket
import struct
import sys
import time

NBD_MAGIC = 0x4E42444D41474943
IHAVEOPT = 0x49484156454F5054
OPT_GO = 7
OPT_LIST = 3
REQUEST_MAGIC = 0x25609513
CMD_READ = 0
# Request{version: 1, node_list: true}, framed: a 4-byte big-endian length, then protobuf.
CTL_NODE_LIST = bytes([0, 0, 0, 5, 0x08, 0x01, 0xA0, 0x01, 0x01])


def connect(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    return s


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise EOFError("server closed during the handshake")
        buf += chunk
    return buf


def nbd_greeting(s):
    magic, opt, _flags = struct.unpack(">QQH", recv_exact(s, 18))
    assert magic == NBD_MAGIC and opt == IHAVEOPT, "not an NBD fixed-newstyle server"
    s.sendall(struct.pack(">I", 1))  # NBD_FLAG_C_FIXED_NEWSTYLE, simple replies


def nbd_go(s, export):
    """OPT_GO with simple replies: READ replies then carry their data (no holes)."""
    name = export.encode()
    data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    s.sendall(struct.pack(">QII", IHAVEOPT, OPT_GO, len(data)) + data)
    while True:
        _magic, _opt, rtype, rlen = struct.unpack(">QIII", recv_exact(s, 20))
        recv_exact(s, rlen)
        if rtype == 1:  # NBD_REP_ACK
            return
        if rtype & 0x80000000:
            raise RuntimeError("OPT_GO refused: %#x" % rtype)


def send_some(s, data, deadline):
    """Sends as much of data as the server takes before the deadline; returns bytes sent."""
    s.setblocking(False)
    sent = 0
    while sent < len(data) and time.time() < deadline:
        try:
            sent += s.send(data[sent:])
        except BlockingIOError:
            time.sleep(0.05)
        except OSError:
            break
    return sent


def nbd_unread_reads(port, export, conns, length, hold):
    socks = []
    for _ in range(conns):
        s = connect(port)
        nbd_greeting(s)
        nbd_go(s, export)
        socks.append(s)
    deadline = time.time() + hold
    reqs = b"".join(
        struct.pack(">IHHQQI", REQUEST_MAGIC, 0, CMD_READ, i, 0, length) for i in range(4096)
    )
    sent = 0
    while time.time() < deadline:
        for s in socks:
            sent += send_some(s, reqs, min(deadline, time.time() + 0.2))
    print("sent %d READ headers of %d bytes on %d connections" % (sent // 28, length, conns))


def nbd_option_flood(port, conns, hold):
    socks = []
    for _ in range(conns):
        s = connect(port)
        nbd_greeting(s)
        socks.append(s)
    deadline = time.time() + hold
    opts = struct.pack(">QII", IHAVEOPT, OPT_LIST, 0) * 65536
    sent = 0
    while time.time() < deadline:
        for s in socks:
            sent += send_some(s, opts, min(deadline, time.time() + 0.2))
    print("sent %d LIST options on %d connections" % (sent // 16, conns))


def open_many(port, conns):
    socks = []
    for _ in range(conns):
        try:
            socks.append(connect(port))
        except OSError:
            pass
    return socks


def ctl_partial(port, conns, hold):
    socks = open_many(port, conns)
    for s in socks:
        try:
            s.send(CTL_NODE_LIST[:1])
        except OSError:
            pass
    print("holding %d connections with one byte of a frame" % len(socks), flush=True)
    time.sleep(hold)


def ctl_slowloris(port, conns, hold):
    socks = open_many(port, conns)
    print("trickling a request on %d connections" % len(socks), flush=True)
    deadline = time.time() + hold
    i = 0
    while time.time() < deadline:
        for s in socks:
            try:
                s.send(CTL_NODE_LIST[i % len(CTL_NODE_LIST) : i % len(CTL_NODE_LIST) + 1])
            except OSError:
                pass
        i += 1
        time.sleep(1)


def rss(pid, seconds):
    peak = 0
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            break
        time.sleep(0.05)
    print(peak)


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "nbd-unread-reads":
        nbd_unread_reads(int(args[0]), args[1], int(args[2]), int(args[3]), float(args[4]))
    elif mode == "nbd-option-flood":
        nbd_option_flood(int(args[0]), int(args[1]), float(args[2]))
    elif mode == "ctl-partial":
        ctl_partial(int(args[0]), int(args[1]), float(args[2]))
    elif mode == "ctl-slowloris":
        ctl_slowloris(int(args[0]), int(args[1]), float(args[2]))
    elif mode == "rss":
        rss(int(args[0]), float(args[1]))
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
# A TCP relay for the zookeeper driver's tests: listens on 127.0.0.1:LISTEN, relays every
# connection to 127.0.0.1:TARGET. The test cuts a sheep off from its ensemble by stopping this
# process (SIGSTOP: its connections go silent, as in a network partition) and heals it with
# SIGCONT. Usage: zk_proxy.py LISTEN TARGET
import selectors
import socket
import sys

listen, target = int(sys.argv[1]), int(sys.argv[2])
sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen))
srv.listen(64)
sel.register(srv, selectors.EVENT_READ)
peer = {}


def close(s):
    for x in (s, peer.pop(s, None)):
        if x is None:
            continue
        peer.pop(x, None)
        try:
            sel.unregister(x)
        except (KeyError, ValueError):
            pass
        x.close()


while True:
    for key, _ in sel.select():
        s = key.fileobj
        if s is srv:
            c, _ = srv.accept()
            try:
                u = socket.create_connection(("127.0.0.1", target))
            except OSError:
                c.close()
                continue
            peer[c], peer[u] = u, c
            sel.register(c, selectors.EVENT_READ)
            sel.register(u, selectors.EVENT_READ)
            continue
        if s not in peer:
            continue
        try:
            data = s.recv(65536)
        except OSError:
            data = b""
        if not data:
            close(s)
            continue
        try:
            peer[s].sendall(data)
        except OSError:
            close(s)

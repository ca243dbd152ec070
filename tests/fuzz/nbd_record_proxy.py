#!/usr/bin/env python3
"""A recording proxy for NBD clients: listens on a Unix socket, forwards every connection to the
server's Unix socket, and writes what each client sent into OUTDIR/PREFIX-N (one file per
connection). Those files are whole client streams, seeds for fuzz_nbd_conn.

usage: nbd_record_proxy.py LISTEN_SOCKET SERVER_SOCKET OUTDIR PREFIX
Runs until killed; a file is complete once its connection has closed."""
import os
import socket
import sys
import threading


def pump(src, dst, record):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if record is not None:
                record.write(data)
                record.flush()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve(client, server_path, path):
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.connect(server_path)
    with open(path, "wb") as record:
        back = threading.Thread(target=pump, args=(server, client, None), daemon=True)
        back.start()
        pump(client, server, record)
        back.join()
    client.close()
    server.close()


def main():
    listen_path, server_path, outdir, prefix = sys.argv[1:5]
    lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if os.path.exists(listen_path):
        os.unlink(listen_path)
    lsock.bind(listen_path)
    lsock.listen(16)
    n = 0
    while True:
        client, _ = lsock.accept()
        n += 1
        path = os.path.join(outdir, f"{prefix}-{n}")
        threading.Thread(target=serve, args=(client, server_path, path), daemon=True).start()


if __name__ == "__main__":
    main()

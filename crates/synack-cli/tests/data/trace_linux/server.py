"""The server side of trace_linux.rs: a Linux TCP listener with Fast Open.

Serves CONNS connections one after another on PORT: reads until EOF,
sends b"k" once 1000 bytes have arrived (the client waits for it before it
crafts its out-of-order segments), then answers b"bye <bytes read>" and
closes. Prints "ready" once listening and one line per connection.
"""
import socket
import sys

PORT = int(sys.argv[1])
CONNS = int(sys.argv[2])

srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
# TCP_FASTOPEN on a listener: the length of the queue of pending TFO requests.
srv.setsockopt(socket.IPPROTO_TCP, socket.TCP_FASTOPEN, 16)
srv.bind(("192.0.2.2", PORT))
srv.listen(8)
print("ready", flush=True)

for _ in range(CONNS):
    conn, peer = srv.accept()
    total, acked = 0, False
    while True:
        data = conn.recv(65536)
        if not data:
            break
        if data.strip(b"x"):
            sys.exit(f"unexpected bytes from {peer}: {data[:20]!r}")
        total += len(data)
        if total >= 1000 and not acked:
            conn.sendall(b"k")
            acked = True
    conn.sendall(b"bye %d" % total)
    conn.close()
    print(f"served {peer[0]}:{peer[1]} {total}", flush=True)

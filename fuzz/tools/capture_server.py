import socket, threading, sys
TCP_FASTOPEN = 23
def tcp_server():
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.IPPROTO_TCP, TCP_FASTOPEN, 16)
    s.bind(("192.0.2.2", 8080)); s.listen(16)
    while True:
        c, _ = s.accept()
        total = 0
        while True:
            d = c.recv(65536)
            if not d: break
            total += len(d)
            if d.endswith(b"END"): break
        c.sendall(b"got %d\n" % total)
        c.close()
def udp_server():
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("192.0.2.2", 5353))
    while True:
        d, a = u.recvfrom(2048); u.sendto(d.upper(), a)
threading.Thread(target=udp_server, daemon=True).start()
tcp_server()

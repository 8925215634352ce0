import socket, time
MSG_FASTOPEN = 0x20000000
dst = ("192.0.2.2", 8080)
def bulk(n):
    c = socket.create_connection(dst)
    c.sendall(b"x" * n + b"END"); print(c.recv(100)); c.close()
bulk(300000)
time.sleep(0.3)
# small request/response
bulk(10)
time.sleep(0.3)
# TCP Fast Open: first asks for a cookie, second carries data in the SYN
for i in range(2):
    c = socket.socket()
    c.sendto(b"tfo hello END", MSG_FASTOPEN, dst)
    print(c.recv(100)); c.close(); time.sleep(0.3)
# UDP echo and UDP to a closed port (ICMP port unreachable)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"hello udp", ("192.0.2.2", 5353)); print(u.recvfrom(100))
u.sendto(b"nobody home", ("192.0.2.2", 9))
time.sleep(0.2)
# TCP to a closed port: RST
try:
    socket.create_connection(("192.0.2.2", 9), timeout=1)
except OSError as e:
    print("closed:", e)
time.sleep(0.3)

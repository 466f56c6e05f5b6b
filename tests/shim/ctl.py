#!/usr/bin/env python3
"""ctl.py SOCKET JSON - one request to fake_sbxd.py; prints its answer."""
import socket
import sys

s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode() + b"\n")
buf = b""
while not buf.endswith(b"\n"):
    c = s.recv(65536)
    if not c:
        break
    buf += c
sys.stdout.write(buf.decode())

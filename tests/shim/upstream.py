#!/usr/bin/env python3
"""upstream.py - the fake internet's servers, for tests/shim/run.sh. Runs in
the "internet" namespace and listens on every address there:

  :80, :8080  HTTP/1.1 (keep-alive): answers a JSON object naming the Host
              header, method, path, the local address dialled and the body size
  :443        the same over TLS (--cert/--key)
  :2222       server speaks first: "SSH-2.0-sbxtest\\r\\n", then echoes lines
  127.0.0.1:53  a DNS server (UDP) answering A/AAAA from --hosts, NXDOMAIN
              otherwise; the upstream resolver of a shim running with c-ares

Every HTTP request and DNS question is appended to --log as a JSON line
(kind, host/qname, local address), so tests can prove what reached upstream.
"""
import argparse
import http.server
import ipaddress
import json
import socket
import socketserver
import ssl
import struct
import threading

p = argparse.ArgumentParser()
p.add_argument("--cert", required=True)
p.add_argument("--key", required=True)
p.add_argument("--hosts", required=True)
p.add_argument("--log", required=True)
a = p.parse_args()

log_lock = threading.Lock()


def log(**kw):
    with log_lock, open(a.log, "a") as f:
        f.write(json.dumps(kw) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self):
        if self.path.startswith("/blob/"):
            return self.blob(int(self.path[6:]))
        if self.path == "/upgrade":
            return self.upgrade()
        n = int(self.headers.get("Content-Length") or 0)
        body_len = 0
        while n > 0:
            chunk = self.rfile.read(min(n, 65536))
            if not chunk:
                break
            body_len += len(chunk)
            n -= len(chunk)
        local = self.connection.getsockname()
        info = {"host": self.headers.get("Host"), "method": self.command, "path": self.path,
                "local": "%s:%d" % (local[0], local[1]), "body_len": body_len,
                "tls": isinstance(self.connection, ssl.SSLSocket)}
        log(kind="http", **info)
        out = (json.dumps(info) + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def blob(self, n):
        log(kind="http", host=self.headers.get("Host"), path=self.path)
        self.send_response(200)
        self.send_header("Content-Length", str(n))
        self.end_headers()
        chunk = b"\0" * (1 << 20)
        while n > 0:
            self.wfile.write(chunk[:min(n, len(chunk))])
            n -= min(n, len(chunk))

    def upgrade(self):
        """101 to a line echo protocol (like a WebSocket would switch)."""
        log(kind="http", host=self.headers.get("Host"), path=self.path)
        self.wfile.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\n"
                         b"Connection: Upgrade\r\n\r\n")
        self.wfile.flush()
        while True:
            d = self.connection.recv(65536)
            if not d:
                break
            self.connection.sendall(d)
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = answer


class Server(http.server.ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(a.cert, a.key)


class TLSServer(Server):
    def finish_request(self, request, client_address):
        try:
            request.settimeout(10)
            request = ctx.wrap_socket(request, server_side=True)
        except (OSError, ssl.SSLError):
            return
        self.RequestHandlerClass(request, client_address, self)


class Banner(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(b"SSH-2.0-sbxtest\r\n")
        self.wfile.flush()
        local = self.connection.getsockname()
        log(kind="banner", local="%s:%d" % local)
        for line in self.rfile:
            self.wfile.write(line)
            self.wfile.flush()


class TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


hosts = {}
for line in open(a.hosts):
    line = line.split("#")[0].split()
    if len(line) >= 2:
        for n in line[1:]:
            hosts.setdefault(n.lower().rstrip("."), []).append(line[0])


def dns_answer(q):
    if len(q) < 12:
        return None
    qid, flags, qd = struct.unpack("!HHH", q[:6])
    if qd != 1:
        return None
    i, labels = 12, []
    while i < len(q) and q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode("ascii", "replace"))
        i += 1 + q[i]
    qtype, qclass = struct.unpack("!HH", q[i + 1:i + 5])
    question = q[12:i + 5]
    name = ".".join(labels).lower()
    log(kind="dns", qname=name, qtype=qtype)
    addrs = hosts.get(name)
    answers = []
    for ad in addrs or []:
        ip = ipaddress.ip_address(ad)
        if (qtype, ip.version) in ((1, 4), (28, 6)):
            answers.append(b"\xc0\x0c" + struct.pack("!HHIH", qtype, 1, 30, len(ip.packed)) + ip.packed)
    rcode = 0 if addrs else 3
    hdr = struct.pack("!HHHHHH", qid, 0x8180 | rcode, 1, len(answers), 0, 0)
    return hdr + question + b"".join(answers)


def dns_loop():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 53))
    while True:
        q, peer = s.recvfrom(4096)
        try:
            r = dns_answer(q)
        except Exception:
            r = None
        if r:
            s.sendto(r, peer)


servers = [Server(("0.0.0.0", 80), Handler), Server(("0.0.0.0", 8080), Handler),
           TLSServer(("0.0.0.0", 443), Handler), TCPServer(("0.0.0.0", 2222), Banner)]
for s in servers:
    threading.Thread(target=s.serve_forever, daemon=True).start()
threading.Thread(target=dns_loop, daemon=True).start()
print("upstream: ready", flush=True)
threading.Event().wait()

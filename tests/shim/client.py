#!/usr/bin/env python3
"""client.py - what a sandbox does, for tests/shim/run.sh (run inside a
sandbox namespace). Prints one JSON object.

  dns NAME [--type A] [--tcp] [--server ADDR]   {"rcode":..., "answers":[...]}
  http-seq TARGET PORT HOST[/PATH] ...           one keep-alive connection, one
                                                 request per HOST: [{"status":..}, ...]
  tls TARGET PORT [--sni NAME | --no-sni]        {"status":...} or {"error":...}
  banner TARGET PORT                             read first (server speaks), then echo
  hold TARGET PORT                               wait until the shim closes it
  post TARGET PORT SIZE [--host H]               upload SIZE bytes
  garbage TARGET PORT                            send junk, report what happened
--src ADDR binds the source address. TARGET is a name (resolved through the
shim's DNS like any program would) or an address.
"""
import argparse
import http.client
import json
import os
import random
import socket
import ssl
import struct
import sys
import time

p = argparse.ArgumentParser()
p.add_argument("--src")
p.add_argument("cmd")
p.add_argument("args", nargs="*")
p.add_argument("--type", default="A")
p.add_argument("--tcp", action="store_true")
p.add_argument("--server", default="100.127.255.254")
p.add_argument("--sni")
p.add_argument("--no-sni", action="store_true")
p.add_argument("--host")
a = p.parse_args()

TYPES = {"A": 1, "AAAA": 28, "TXT": 16, "MX": 15, "ANY": 255, "HTTPS": 65}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def out(o):
    print(json.dumps(o))
    sys.exit(0)


def sock(family=socket.AF_INET, typ=socket.SOCK_STREAM):
    s = socket.socket(family, typ)
    if a.src:
        s.bind((a.src, 0))
    return s


def resolve(name):
    """Through the shim's DNS. With --src, the query leaves from that address
    too (the system resolver would use the namespace's primary one, i.e.
    another session)."""
    try:
        socket.inet_aton(name)
        return name
    except OSError:
        pass
    if not a.src:
        return socket.getaddrinfo(name, 0, socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
    r = dns_query(name, "A")
    if r.get("rcode") != "NOERROR" or not r.get("answers"):
        out({"error": "resolve %s: %s" % (name, r.get("rcode") or r.get("error"))})
    return r["answers"][0]


def connect(target, port, timeout=5):
    addr = resolve(target)
    s = sock()
    s.settimeout(timeout)
    s.connect((addr, port))
    return s, addr


def dns():
    out(dns_query(a.args[0], a.type))


def dns_query(name, qtype):
    qid = random.randint(0, 65535)
    q = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split(".") if name not in (".", "") else []:
        q += bytes([len(label)]) + label.encode()
    q += b"\0" + struct.pack("!HH", TYPES.get(qtype, 1) if not qtype.isdigit() else int(qtype), 1)
    if a.tcp:
        s = sock()
        s.settimeout(5)
        s.connect((a.server, 53))
        s.sendall(struct.pack("!H", len(q)) + q)
        n = struct.unpack("!H", s.recv(2, socket.MSG_WAITALL))[0]
        r = s.recv(n, socket.MSG_WAITALL)
    else:
        s = sock(typ=socket.SOCK_DGRAM)
        s.settimeout(3)
        s.sendto(q, (a.server, 53))
        try:
            r, peer = s.recvfrom(4096)
        except socket.timeout:
            return {"error": "timeout"}
        if peer[0] != a.server:
            return {"error": "reply from %s" % peer[0]}
    rid, flags, qd, an = struct.unpack("!HHHH", r[:8])
    i = 12
    for _ in range(qd):
        while r[i]:
            i += 1 + r[i]
        i += 5
    answers = []
    for _ in range(an):
        if r[i] & 0xC0 == 0xC0:
            i += 2
        else:
            while r[i]:
                i += 1 + r[i]
            i += 1
        typ, cls, ttl, rdlen = struct.unpack("!HHIH", r[i:i + 10])
        rd = r[i + 10:i + 10 + rdlen]
        i += 10 + rdlen
        answers.append(socket.inet_ntoa(rd) if typ == 1 else rd.hex())
    return {"rcode": RCODES.get(flags & 0xF, flags & 0xF), "answers": answers, "id_ok": rid == qid,
            "qr": bool(flags & 0x8000)}


def http_seq():
    target, port = a.args[0], int(a.args[1])
    s, addr = connect(target, port)
    results = []
    for hp in a.args[2:]:
        if hp.startswith("@sleep"):
            time.sleep(float(hp[6:]))
            continue
        method = "GET"
        if ":" in hp.split("/")[0]:
            method, _, hp = hp.partition(":")
        host, _, path = hp.partition("/")
        extra = ""
        if method == "UPGRADE":  # asks to switch; our upstream declines unless path is upgrade
            method, extra = "GET", "Upgrade: echo\r\nConnection: Upgrade\r\n"
        req = "%s /%s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sbx-test\r\n%s\r\n" % (method, path, host, extra)
        try:
            s.sendall(req.encode())
            resp = http.client.HTTPResponse(s, method=method)
            resp.begin()
            body = resp.read().decode(errors="replace")
            results.append({"status": resp.status, "body": body})
        except (OSError, http.client.HTTPException) as e:
            results.append({"error": type(e).__name__})
            break
    out({"addr": addr, "results": results})


def pipeline():
    """All requests in one write; then read every response in order."""
    target, port = a.args[0], int(a.args[1])
    s, addr = connect(target, port)
    reqs = b""
    for hp in a.args[2:]:
        host, _, path = hp.partition("/")
        reqs += ("GET /%s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()
    s.sendall(reqs)
    f = s.makefile("rb")
    results = []
    for _ in a.args[2:]:
        try:
            status = f.readline().split()[1].decode()
            n = 0
            while True:
                h = f.readline()
                if h in (b"\r\n", b""):
                    break
                if h.lower().startswith(b"content-length:"):
                    n = int(h.split(b":")[1])
            results.append({"status": int(status), "body": f.read(n).decode(errors="replace")})
        except (OSError, IndexError, ValueError) as e:
            results.append({"error": type(e).__name__})
            break
    out({"addr": addr, "results": results})


def upgrade():
    """A request that switches protocols, with bytes of the new protocol
    right behind it (they must wait for the 101, then pass untouched)."""
    s, addr = connect(a.args[0], int(a.args[1]))
    host = a.host or a.args[0]
    s.sendall(("GET /upgrade HTTP/1.1\r\nHost: %s\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n"
               % host).encode() + b"early bytes\n")
    f = s.makefile("rb")
    status = f.readline().decode().strip()
    while f.readline() not in (b"\r\n", b""):
        pass
    early = f.readline().decode()
    s.sendall(b"GET / HTTP/1.1\r\nHost: other.test\r\n\r\n")  # not HTTP any more: passes
    later = f.readline().decode()
    out({"status": status, "early": early, "later": later})


def tls_split():
    """A ClientHello sent in two TCP segments, 300 ms apart."""
    s, addr = connect(a.args[0], int(a.args[1]))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, outg = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, outg, server_hostname=a.sni or a.args[0])
    first = True
    try:
        while True:
            try:
                obj.do_handshake()
                break
            except ssl.SSLWantReadError:
                pass
            data = outg.read()
            if data and first:
                s.sendall(data[:40])
                time.sleep(0.3)
                s.sendall(data[40:])
                first = False
            elif data:
                s.sendall(data)
            d = s.recv(65536)
            if not d:
                out({"error": "closed"})
            inc.write(d)
        obj.write(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % a.args[0]).encode())
        s.sendall(outg.read())
        resp = b""
        while True:
            try:
                resp += obj.read(65536)
            except ssl.SSLWantReadError:
                d = s.recv(65536)
                if not d:
                    break
                inc.write(d)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
        out({"status": int(resp.split()[1]) if resp else 0})
    except ConnectionResetError:
        out({"error": "reset"})


def tls():
    target, port = a.args[0], int(a.args[1])
    try:
        s, addr = connect(target, port)
    except OSError as e:
        out({"error": "connect: " + type(e).__name__})
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sni = None if a.no_sni else (a.sni or target)
    try:
        t = ctx.wrap_socket(s, server_hostname=sni)
        t.sendall(("GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % target).encode())
        resp = http.client.HTTPResponse(t, method="GET")
        resp.begin()
        out({"status": resp.status, "body": resp.read().decode(errors="replace")})
    except ConnectionResetError:
        out({"error": "reset"})
    except (OSError, ssl.SSLError, http.client.HTTPException) as e:
        out({"error": type(e).__name__ + ": " + str(e)})


def banner():
    s, addr = connect(a.args[0], int(a.args[1]))
    try:
        first = s.recv(100)
        s.sendall(b"ping\n")
        echo = s.recv(100)
        out({"banner": first.decode(errors="replace"), "echo": echo.decode(errors="replace")})
    except ConnectionResetError:
        out({"error": "reset"})
    except OSError as e:
        out({"error": type(e).__name__})


def hold():
    s, addr = connect(a.args[0], int(a.args[1]), timeout=30)
    first = s.recv(100)
    print(json.dumps({"connected": first.decode(errors="replace")}), flush=True)
    t0 = time.time()
    try:
        while s.recv(100):
            pass
        how = "closed"
    except ConnectionResetError:
        how = "reset"
    except socket.timeout:
        how = "timeout"
    out({"end": how, "after_s": round(time.time() - t0, 2)})


def post():
    target, port, size = a.args[0], int(a.args[1]), int(a.args[2])
    s, addr = connect(target, port, timeout=10)
    host = a.host or target
    try:
        s.sendall(("POST /upload HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" % (host, size)).encode())
        chunk = b"x" * 4096
        left = size
        while left > 0:
            s.sendall(chunk[:min(left, 4096)])
            left -= min(left, 4096)
        resp = http.client.HTTPResponse(s, method="POST")
        resp.begin()
        out({"status": resp.status, "body": resp.read().decode(errors="replace")})
    except ConnectionResetError:
        out({"error": "reset"})
    except (OSError, http.client.HTTPException) as e:
        out({"error": type(e).__name__})


def garbage():
    s, addr = connect(a.args[0], int(a.args[1]))
    try:
        s.sendall(b"\x16\x03\x01\x00\x20" + os.urandom(32) + b"\x00" * 10)
        d = s.recv(100)
        out({"result": "data" if d else "closed"})
    except ConnectionResetError:
        out({"result": "reset"})
    except OSError as e:
        out({"result": type(e).__name__})


{"dns": dns, "http-seq": http_seq, "pipeline": pipeline, "upgrade": upgrade, "tls-split": tls_split, "tls": tls, "banner": banner, "hold": hold, "post": post,
 "garbage": garbage}[a.cmd]()

#!/usr/bin/env python3
"""tests/fuzz/make-corpus.py - (re)writes the seed corpora in tests/fuzz/corpus/.

Each seed is a real input: API requests as the CLI and curl send them, the
example policies, DNS queries as resolvers send them, HTTP/1.1 traffic and a
TLS ClientHello as sandboxes send them. Inputs that once broke a target are
not generated here: they are committed as corpus/<target>/regress-*.
Run from the repository root: python3 tests/fuzz/make-corpus.py"""
import json
import os
import re
import struct

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def req(method, path, body=None, headers=(), chunked=False):
    h = [f"{method} {path} HTTP/1.1", "Host: sbx", "User-Agent: sbx/0.1.0"]
    h += list(headers)
    b = b""
    if body is not None:
        b = body.encode() if isinstance(body, str) else body
        h.append("Content-Type: application/json")
        if chunked:
            h.append("Transfer-Encoding: chunked")
            mid = len(b) // 2
            b = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (b[:mid], b[mid:]) if p) + b"0\r\n\r\n"
        else:
            h.append(f"Content-Length: {len(b)}")
    return ("\r\n".join(h) + "\r\n\r\n").encode() + b


# ---- api_request: sbxd's API (docs/api.md) ----
SID = "0123456789abcdef0123"
create = json.dumps({
    "image": "busybox", "limits": {"memory": "256M", "pids": 64, "cpu": 0.5},
    "env": {"LANG": "C.UTF-8"}, "labels": {"owner": "ci"}, "timeout": 600,
    "network": {"allow": ["registry.npmjs.org:443"]}})
exec_body = json.dumps({"cmd": ["sh", "-c", "echo hi"], "env": {"A": "1"}, "user": "root",
                        "tty": False, "timeout": 10, "cwd": "/tmp"})
put("api_request", "health", req("GET", "/v1/health"))
put("api_request", "create-session", req("POST", "/v1/sessions", create))
put("api_request", "create-session-chunked", req("POST", "/v1/sessions", create, chunked=True))
put("api_request", "create-limits-bytes",
    req("POST", "/v1/sessions", '{"image":"busybox","limits":{"memory":1073741824,"pids":8}}'))
put("api_request", "exec-frames", req("POST", f"/v1/sessions/{SID}/exec", exec_body,
                                      ["Accept: application/vnd.sbx.frames"]))
put("api_request", "files-get", req("GET", f"/v1/sessions/{SID}/files?path=%2Ftmp%2Fa+b&depth=2"))
put("api_request", "files-put-expect",
    req("PUT", f"/v1/sessions/{SID}/files?path=/tmp/x&mode=0644", b"hello\n",
        ["Expect: 100-continue"]))
put("api_request", "archive-get",
    req("GET", f"/v1/sessions/{SID}/archive?path=/work&format=tar&user=sandbox"))
put("api_request", "delete-session", req("DELETE", f"/v1/sessions/{SID}"))
put("api_request", "pipelined",
    req("GET", "/v1/sessions") + req("POST", f"/v1/sessions/{SID}/keepalive", "{}") +
    req("GET", "/v1/images/busybox", headers=["Connection: close"]))
put("api_request", "http10", b"GET /v1/health HTTP/1.0\r\n\r\n")

# ---- policy: the example policies and every rule kind ----
ex = os.path.join(os.path.dirname(ROOT), "..", "..", "policy", "examples")
for f in sorted(os.listdir(ex)):
    with open(os.path.join(ex, f), "rb") as fh:
        put("policy", "example-" + f.removesuffix(".json"), fh.read())
put("policy", "all-kinds", json.dumps({
    "mode": "report",
    "allow": ["api.github.com", "*.example.com:443", "example.org:8000-8100", "_dmarc.example.net."],
    "deny": ["gist.example.com"],
    "allow_cidrs": ["203.0.113.0/24:443", "198.51.100.7:8000-8100", "[2001:db8::]/32:443",
                    "2001:db8:1::/48"],
    "quotas": {"connections": 64, "connections_per_minute": 600, "requests_per_minute": 1200,
               "bytes_out": 1073741824},
    "http": {"API.GitHub.com.": ["GET /repos/**", "POST /repos/*/issues", "GET /v1/*.json",
                                 "* /any/**", "HEAD /"],
             "*.example.com": ["* /v1/**"]}}))
put("policy", "empty", "{}")
put("policy", "request-paths", json.dumps({
    "allow": ["api.example.com"], "http": {"api.example.com": ["GET /a/**/b/*/c*d/**"]},
    "description": "/a/x/y/b/z/c1d/e", "x": ["/a/%41/b", "http://h/a/b?q", "/a/..;/b", "/a//b"]}))

# ---- dns: queries as a resolver sends them ----
def qname(name):
    if name in ("", "."):
        return b"\0"
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"


def query(qid, name, qtype=1, qclass=1, flags=0x0100, edns=False, qd=None, extra=b""):
    q = qname(name) + struct.pack(">HH", qtype, qclass) if qd is None else qd
    nq = 1 if qd is None else 2
    ar = 1 if edns else 0
    m = struct.pack(">HHHHHH", qid, flags, nq if q else 0, 0, 0, ar) + q + extra
    if edns:
        m += b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    return m


put("dns", "a-allowed", query(0x1234, "registry.npmjs.org"))
put("dns", "a-wildcard-edns", query(0x2222, "www.example.com", edns=True))
put("dns", "aaaa", query(0x3333, "api.example.com", qtype=28))
put("dns", "txt-denied", query(0x4444, "bad.example.com", qtype=16))
put("dns", "a-ip-literal", query(0x5555, "1.2.3.4"))
put("dns", "class-chaos", query(0x6666, "version.bind", qtype=16, qclass=3))
put("dns", "two-questions", query(0x7777, "", qd=qname("a.example.com") + b"\0\1\0\1" +
                                  qname("b.example.com") + b"\0\1\0\1"))
put("dns", "compression-loop", query(0x8888, "", qd=b"\3www\xc0\x0c\0\1\0\1"))
put("dns", "status-opcode", query(0x9999, "example.org", flags=0x1000))
put("dns", "response-flag", query(0xaaaa, "example.org", flags=0x8180))
put("dns", "root", query(0xbbbb, ".", qtype=2))
put("dns", "long-name", query(0xcccc, ".".join(["a" * 63] * 3 + ["example", "com"])))
put("dns", "underscore", query(0xdddd, "_dmarc.example.net", qtype=16))

# ---- shim_http: sandbox traffic the shim watches ----
PA = "sbx_secret_0123456789abcdef0123456789abcdef01234567"
PB = "sbx_secret_fedcba9876543210fedcba9876543210fedcba98"
put("shim_http", "get-host", "GET /a/b?secret=1 HTTP/1.1\r\nHost: Example.COM:8080\r\nAccept: */*\r\n\r\n")
put("shim_http", "proxy-absolute",
    "GET http://other.test/x HTTP/1.1\r\nHost: other.test\r\n\r\n"
    "POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello")
put("shim_http", "connect", "CONNECT api.github.com:443 HTTP/1.1\r\nHost: api.github.com:443\r\n\r\n")
put("shim_http", "chunked-request",
    "POST /v1/x HTTP/1.1\r\nHost: api.example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n0\r\nTrailer: x\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
put("shim_http", "websocket",
    "GET /ws HTTP/1.1\r\nHost: localhost:5173\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n\x81\x05hello")
put("shim_http", "secret-header",
    f"GET /user HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Bearer {PA}\r\n\r\n")
import base64
put("shim_http", "secret-basic",
    "GET /repo.git/info/refs HTTP/1.1\r\nHost: api.github.com\r\nAuthorization: Basic " +
    base64.b64encode(f"x-access-token:{PA}".encode()).decode() + "\r\n\r\n")
put("shim_http", "secret-query", f"GET /v1/q?key={PB}&a=1 HTTP/1.1\r\nHost: api.example.com\r\n\r\n")
put("shim_http", "secret-in-path", f"GET /{PA} HTTP/1.1\r\nHost: api.github.com\r\n\r\n")
put("shim_http", "response-length",
    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
    "HTTP/1.1 204 No Content\r\n\r\n")
put("shim_http", "response-chunked",
    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    "3\r\nabc\r\n0\r\n\r\n")
put("shim_http", "response-eof", "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nbody until close")
put("shim_http", "response-101",
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x00")
src = open(os.path.join(os.path.dirname(ROOT), "..", "unit", "test_shim_sni.c")).read()
for var, name in (("hello_sni", "clienthello-sni"), ("hello_nosni", "clienthello-nosni")):
    body = re.search(r"%s\[\] = \{(.*?)\};" % var, src, re.S).group(1)
    put("shim_http", name, bytes(int(x, 16) for x in re.findall(r"0x([0-9a-fA-F]{2})", body)))

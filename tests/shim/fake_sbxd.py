#!/usr/bin/env python3
"""fake_sbxd.py - a stand-in for sbxd's side of the shim's control channel
(shim/ctl.h), for tests/shim/run.sh.

Run inside the egress network namespace (`ip netns exec EGRESS python3 ...`):
it opens the listeners there (UDP+TCP 53 and the TCP ports given), makes the
SOCK_SEQPACKET socketpair, starts sbx-shim in the "internet" namespace with
its end as fd 3, hands it the listeners (SCM_RIGHTS) and then relays
commands from the test script, which talks to it over a Unix socket, one
JSON object per connection:

  {"cmd":"send","msg":{...}}        send msg (a "seq" is added), wait for its ack
  {"cmd":"raw","data":"..."}        send bytes as one packet, no ack awaited
  {"cmd":"restart","args":[...]}    close the channel (the shim must exit 0),
                                    start a new shim with these extra args,
                                    hand it the listeners and every session again
  {"cmd":"status"}                  is the shim alive? its exit code, ready seen
  {"cmd":"stop"}                    close the channel, wait for the shim, exit

Like sbxd, it remembers every "session" it sent (by id, dropped on "remove")
so that a restarted shim gets them all back.
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

p = argparse.ArgumentParser()
p.add_argument("--shim", required=True)
p.add_argument("--inet", required=True, help="netns the shim runs in")
p.add_argument("--ctl", required=True, help="unix socket path for the test script")
p.add_argument("--log", required=True, help="shim stderr")
p.add_argument("--ports", default="80,443")
p.add_argument("shim_args", nargs="*")
a = p.parse_args()

listeners = []  # (proto, port, socket)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
u.bind(("0.0.0.0", 53))
u.setblocking(False)
listeners.append(("udp", 53, u))
for port in [53] + [int(x) for x in a.ports.split(",") if x]:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind(("0.0.0.0", port))
    t.listen(256)
    t.setblocking(False)
    listeners.append(("tcp", port, t))

lock = threading.Lock()
acks = {}
acks_cv = threading.Condition(lock)
sessions = {}  # id -> msg
state = {"proc": None, "sock": None, "ready": False, "seq": 0, "rc": None}


def reader(sock, proc):
    while True:
        try:
            data = sock.recv(1 << 20)
        except OSError:
            break
        if not data:
            break
        try:
            m = json.loads(data)
        except ValueError:
            print("fake_sbxd: bad message from shim: %r" % data, file=sys.stderr)
            continue
        with acks_cv:
            if m.get("op") == "ready":
                state["ready"] = True
            elif m.get("op") == "ack":
                acks[m.get("seq")] = m
            acks_cv.notify_all()


def send(msg, timeout=5.0):
    with acks_cv:
        state["seq"] += 1
        seq = state["seq"]
    msg = dict(msg)
    msg["seq"] = seq
    fds = msg.pop("_fds", [])
    data = json.dumps(msg).encode()
    if fds:
        socket.send_fds(state["sock"], [data], fds)
    else:
        state["sock"].send(data)
    deadline = time.time() + timeout
    with acks_cv:
        while seq not in acks:
            left = deadline - time.time()
            if left <= 0:
                return {"op": "ack", "seq": seq, "error": "fake_sbxd: no ack within %gs" % timeout}
            acks_cv.wait(left)
        return acks.pop(seq)


def start(extra):
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    log = open(a.log, "ab")
    cfd = child.fileno()
    cmd = ["ip", "netns", "exec", a.inet, "bash", "-c",
           'exec "$0" "$@" 3<&%d %d<&-' % (cfd, cfd), a.shim] + list(a.shim_args) + list(extra)
    proc = subprocess.Popen(cmd, pass_fds=[cfd], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    child.close()
    log.close()
    state.update(proc=proc, sock=parent, ready=False, rc=None)
    threading.Thread(target=reader, args=(parent, proc), daemon=True).start()
    deadline = time.time() + 10
    with acks_cv:
        while not state["ready"] and time.time() < deadline and proc.poll() is None:
            acks_cv.wait(0.1)
    if not state["ready"]:
        return "shim not ready (exit %r)" % proc.poll()
    for proto, port, s in listeners:
        r = send({"op": "listen", "proto": proto, "port": port, "_fds": [s.fileno()]})
        if r.get("error"):
            return "listen %s/%d: %s" % (proto, port, r["error"])
    for m in list(sessions.values()):
        r = send(m)
        if r.get("error"):
            return "session %s: %s" % (m.get("id"), r["error"])
    return None


def stop_shim(timeout=5.0):
    proc = state["proc"]
    if not proc:
        return None
    try:
        state["sock"].shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    state["sock"].close()
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "killed (did not exit after the channel closed)"
    state["proc"] = None
    state["rc"] = rc
    return rc


err = start([])
if err:
    print("fake_sbxd: " + err, file=sys.stderr)
    stop_shim()
    sys.exit(1)

srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    os.unlink(a.ctl)
except FileNotFoundError:
    pass
srv.bind(a.ctl)
srv.listen(16)
print("fake_sbxd: ready", file=sys.stderr, flush=True)

while True:
    conn, _ = srv.accept()
    with conn:
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
        try:
            req = json.loads(buf)
        except ValueError:
            conn.sendall(b'{"error":"bad request"}\n')
            continue
        cmd = req.get("cmd")
        out = {}
        if cmd == "send":
            msg = req["msg"]
            if state["proc"] is None:
                out = {"error": "no shim"}
            else:
                out = send(msg, req.get("timeout", 5.0))
                if not out.get("error"):
                    if msg.get("op") == "session":
                        sessions[msg["id"]] = msg
                    elif msg.get("op") == "remove":
                        sessions.pop(msg.get("id"), None)
        elif cmd == "raw":
            data = req["data"].encode()
            try:
                state["sock"].send(data)
                out = {"ok": True}
            except OSError as e:
                out = {"error": str(e)}
        elif cmd == "restart":
            rc = stop_shim()
            e = start(req.get("args", []))
            out = {"old_rc": rc, "error": e} if e else {"old_rc": rc, "ok": True}
        elif cmd == "status":
            proc = state["proc"]
            out = {"alive": bool(proc and proc.poll() is None),
                   "rc": proc.poll() if proc else state["rc"], "ready": state["ready"]}
        elif cmd == "stop":
            rc = stop_shim()
            conn.sendall((json.dumps({"rc": rc}) + "\n").encode())
            break
        conn.sendall((json.dumps(out) + "\n").encode())
srv.close()
os.unlink(a.ctl)

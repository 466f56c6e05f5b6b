#!/usr/bin/env python3
"""mkimage.py - build small image archives for the import tests (stdlib only).

  mkimage.py oci    OUT LAYERDIR... [--name REF] [--gzip] [--dir] [--corrupt N] [--platform ARCH]
  mkimage.py docker OUT LAYERDIR... [--name REF] [--legacy] [--corrupt N]

Each LAYERDIR becomes one layer, bottom first; files named .wh.X and
.wh..wh..opq inside are packed as they are (OCI whiteouts). OUT is a tarball,
or with --dir (oci) an OCI image layout directory. --corrupt N flips one byte
of layer N after its digest was recorded (a digest-mismatch archive).
Owners are packed as uid/gid 0, except files under home/sandbox (1000).
"""
import argparse
import gzip
import hashlib
import io
import json
import os
import tarfile


def layer_tar(d):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        def own(ti):
            ti.uid = ti.gid = 1000 if ti.name.startswith("home/sandbox") else 0
            ti.uname = ti.gname = ""
            ti.mtime = 1700000000
            return ti
        for name in sorted(os.listdir(d)):
            t.add(os.path.join(d, name), arcname=name, filter=own)
    return buf.getvalue()


def sha(b):
    return hashlib.sha256(b).hexdigest()


def add_bytes(t, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mtime = 1700000000
    t.addfile(ti, io.BytesIO(data))


def config_for(diff_ids, arch):
    return json.dumps({
        "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin", "FROM_IMAGE=1"], "Cmd": ["/bin/sh"],
                   "WorkingDir": "/workspace"},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + x for x in diff_ids]},
    }).encode()


def oci(a):
    blobs = {}
    layers = []
    diff_ids = []
    for i, d in enumerate(a.layers):
        raw = layer_tar(d)
        diff_ids.append(sha(raw))
        data = gzip.compress(raw, mtime=0) if a.gzip else raw
        h = sha(data)
        if a.corrupt == i:
            data = data[:-1] + bytes([data[-1] ^ 0xFF])
        blobs[h] = data
        mt = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if a.gzip else "")
        layers.append({"mediaType": mt, "digest": "sha256:" + h, "size": len(data)})
    cfg = config_for(diff_ids, a.platform)
    blobs[sha(cfg)] = cfg
    man = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + sha(cfg), "size": len(cfg)},
        "layers": layers}).encode()
    blobs[sha(man)] = man
    desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": "sha256:" + sha(man), "size": len(man),
            "platform": {"os": "linux", "architecture": a.platform}}
    if a.name:
        desc["annotations"] = {"org.opencontainers.image.ref.name": a.name}
    index = json.dumps({"schemaVersion": 2, "manifests": [desc]}).encode()
    files = [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)]
    files += [("blobs/sha256/" + h, b) for h, b in blobs.items()]
    if a.dir:
        for name, data in files:
            p = os.path.join(a.out, name)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
    else:
        with tarfile.open(a.out, "w") as t:
            for name, data in files:
                add_bytes(t, name, data)
    print("sha256:" + sha(man))


def docker(a):
    files = []
    layer_paths = []
    diff_ids = []
    for i, d in enumerate(a.layers):
        raw = layer_tar(d)
        h = sha(raw)
        diff_ids.append(h)
        data = raw
        if a.corrupt == i:
            k = max(i for i, c in enumerate(raw) if c)  # last byte of file content
            data = raw[:k] + bytes([raw[k] ^ 0x01]) + raw[k + 1:]
        p = f"{h}/layer.tar" if a.legacy else f"blobs/sha256/{h}"
        layer_paths.append(p)
        files.append((p, data))
    cfg = config_for(diff_ids, a.platform)
    cp = f"{sha(cfg)}.json" if a.legacy else f"blobs/sha256/{sha(cfg)}"
    files.append((cp, cfg))
    man = [{"Config": cp, "RepoTags": [a.name] if a.name else None, "Layers": layer_paths}]
    files.append(("manifest.json", json.dumps(man).encode()))
    with tarfile.open(a.out, "w") as t:
        for name, data in files:
            add_bytes(t, name, data)
    print("sha256:" + sha(cfg))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("kind", choices=["oci", "docker"])
    p.add_argument("out")
    p.add_argument("layers", nargs="+")
    p.add_argument("--name")
    p.add_argument("--gzip", action="store_true")
    p.add_argument("--dir", action="store_true")
    p.add_argument("--legacy", action="store_true")
    p.add_argument("--corrupt", type=int, default=-1)
    p.add_argument("--platform", default="amd64")
    a = p.parse_args()
    oci(a) if a.kind == "oci" else docker(a)


main()

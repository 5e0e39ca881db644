#!/usr/bin/env python3
"""Builds one hostile cce-sync stream: hostile.py CASE > stream.

Each stream looks like a pack (a tar with .cce/manifest.jsonl and
.cce/ops.jsonl first, zstd-compressed by the caller) but carries one attack.
Written with Python's tarfile so that names, types and modes are exactly
what the attack needs, which GNU tar would normalise away.
"""
import hashlib
import io
import json
import sys
import tarfile

MTIME = 1700000000000


def f(path, data, mode="0644"):
    return {"path": path, "type": "file", "size": len(data), "mode": mode,
            "mtime": MTIME, "sha256": hashlib.sha256(data).hexdigest()}


def d(path, mode="0755"):
    return {"path": path, "type": "dir", "mode": mode, "mtime": MTIME}


def l(path, target):
    return {"path": path, "type": "symlink", "mode": "0777", "mtime": MTIME, "target": target}


def add(op, path, **kw):
    o = {"op": op, "path": path}
    o.update(kw)
    return o


def blob(tf, name, data, mode=0o644, type_=tarfile.REGTYPE, **kw):
    ti = tarfile.TarInfo(name)
    ti.size = len(data) if type_ == tarfile.REGTYPE else 0
    ti.mode = mode
    ti.type = type_
    ti.mtime = MTIME // 1000
    for k, v in kw.items():
        setattr(ti, k, v)
    tf.addfile(ti, io.BytesIO(data) if type_ == tarfile.REGTYPE else None)


class Zeros(io.RawIOBase):
    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


def stream(manifest, ops, members, out):
    tf = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
    blob(tf, ".cce/manifest.jsonl",
         "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in manifest).encode())
    blob(tf, ".cce/ops.jsonl",
         "".join(json.dumps(o, separators=(",", ":")) + "\n" for o in ops).encode())
    for m in members:
        m(tf)
    tf.close()


EVIL = b"evil\n"


def case(name, out):
    if name == "traversal":
        stream([f("../evil", EVIL)], [add("add", "../evil")],
               [lambda tf: blob(tf, "../evil", EVIL)], out)
    elif name == "traversal-stream":
        stream([f("ok", EVIL)], [add("add", "ok")],
               [lambda tf: blob(tf, "../evil", EVIL)], out)
    elif name == "absolute":
        p = sys.argv[2] if len(sys.argv) > 2 else "/tmp/cce-sync-evil"
        stream([f(p, EVIL)], [add("add", p)], [lambda tf: blob(tf, p, EVIL)], out)
    elif name == "absolute-stream":
        p = sys.argv[2] if len(sys.argv) > 2 else "/tmp/cce-sync-evil"
        stream([f("ok", EVIL)], [add("add", "ok")], [lambda tf: blob(tf, p, EVIL)], out)
    elif name == "symlink-escape":
        # d/up -> .. stays inside; esc -> d/up/.. looks inside when read
        # lexically ("d"), but resolves through d/up to the parent of DIR
        stream([d("d"), l("d/up", ".."), l("esc", "d/up/..")],
               [add("add", "d"), add("add", "d/up"), add("add", "esc")], [], out)
    elif name == "symlink-absolute":
        stream([l("etc", "/etc")], [add("add", "etc")], [], out)
    elif name == "symlink-then-file":
        # the classic two-step: a symlink out, then a file through it
        stream([l("out", ".."), f("out/evil", EVIL)],
               [add("add", "out"), add("add", "out/evil")],
               [lambda tf: blob(tf, "out", b"", type_=tarfile.SYMTYPE, linkname=".."),
                lambda tf: blob(tf, "out/evil", EVIL)], out)
    elif name == "symlink-in-stream":
        stream([f("out", EVIL)], [add("add", "out")],
               [lambda tf: blob(tf, "out", b"", type_=tarfile.SYMTYPE, linkname="/etc/passwd")], out)
    elif name == "hardlink":
        stream([f("h", EVIL)], [add("add", "h")],
               [lambda tf: blob(tf, "h", b"", type_=tarfile.LNKTYPE, linkname="../../../etc/passwd")], out)
    elif name == "device":
        stream([f("null", b"")], [add("add", "null")],
               [lambda tf: blob(tf, "null", b"", type_=tarfile.CHRTYPE, devmajor=1, devminor=3)], out)
    elif name == "fifo":
        stream([f("fifo", b"")], [add("add", "fifo")],
               [lambda tf: blob(tf, "fifo", b"", type_=tarfile.FIFOTYPE)], out)
    elif name == "setuid":
        stream([f("su", EVIL, mode="4755")], [add("add", "su")],
               [lambda tf: blob(tf, "su", EVIL, mode=0o4755)], out)
    elif name == "setuid-stream":
        stream([f("su", EVIL, mode="0755")], [add("add", "su")],
               [lambda tf: blob(tf, "su", EVIL, mode=0o4755)], out)
    elif name == "bomb" or name == "bomb-honest":
        # 100 MiB of zeros: about 10,000 times smaller once compressed
        n = 100 << 20
        e = f("bomb", b"")
        e["size"] = n if name == "bomb-honest" else 10
        def member(tf):
            ti = tarfile.TarInfo("bomb")
            ti.size = n
            ti.mtime = MTIME // 1000
            tf.addfile(ti, io.BufferedReader(Zeros(n), 1 << 20))
        stream([e], [add("add", "bomb")], [member], out)
    elif name == "not-in-manifest":
        stream([f("ok", EVIL)], [add("add", "ok")],
               [lambda tf: blob(tf, "ok", EVIL), lambda tf: blob(tf, "extra", EVIL)], out)
    elif name == "twice-manifest":
        stream([f("ok", EVIL), f("ok", EVIL)], [add("add", "ok")],
               [lambda tf: blob(tf, "ok", EVIL)], out)
    elif name == "twice-stream":
        stream([f("ok", EVIL)], [add("add", "ok")],
               [lambda tf: blob(tf, "ok", EVIL), lambda tf: blob(tf, "ok", EVIL)], out)
    elif name == "wrong-hash":
        e = f("ok", EVIL)
        stream([e], [add("add", "ok")], [lambda tf: blob(tf, "ok", b"eviL\n")], out)
    elif name == "no-parent":
        stream([f("a/b", EVIL)], [add("add", "a/b")], [lambda tf: blob(tf, "a/b", EVIL)], out)
    else:
        sys.exit("unknown case " + name)


if __name__ == "__main__":
    case(sys.argv[1], sys.stdout.buffer)

#!/usr/bin/env python3
"""Check cce-sched output against its promises, independently of its code.

check.py NODES TASKS OUTPUT [--state FILE] [--no-feasible]

Replays OUTPUT in order over the pool (and the state) and fails with a
message when: a replica lands on a node that is not ready, over capacity
(cpu, mem, disk; plus reported load for burstable and besteffort), outside
its region or selector, or next to a sibling its spread forbids; a reason
does not count every node exactly once; an unschedulable replica had a node
it fit on at that moment (unless --no-feasible); an input replica is neither
placed nor explained. Prints "ok N placed M unschedulable" on success.
"""
import json
import re
import sys

a = sys.argv[1:]
nodes_f, tasks_f, out_f = a[:3]
state_f = a[a.index("--state") + 1] if "--state" in a else None
feasible_check = "--no-feasible" not in a
M = lambda x: round((x or 0) * 1000)
RES = ("cpu", "mem_mb", "disk_mb")


def die(msg):
    print("check: " + msg)
    sys.exit(1)


nodes = {}
for l in open(nodes_f):
    if l.strip():
        n = json.loads(l)
        n.setdefault("state", "ready")
        n["alloc"] = [0, 0, 0]
        n["cap"] = [M(n["capacity"].get(r)) for r in RES]
        ld = n.get("load") or {}
        n["ld"] = [M(ld.get("cpu")), M(ld.get("mem_mb")), 0]
        nodes[n["node"]] = n
tasks = {}
for l in open(tasks_f):
    if l.strip():
        t = json.loads(l)
        tasks[t["task"]] = t
live = {}  # (task, replica) -> (node, spec)
seen = set()  # replicas placed or explained
placed = unsched = 0


def req(spec):
    return [M(spec.get(r)) for r in RES]


def add(key, node, spec):
    live[key] = (node, spec)
    if node in nodes:
        for i, q in enumerate(req(spec)):
            nodes[node]["alloc"][i] += q


def remove(key):
    node, spec = live.pop(key)
    if node in nodes:
        for i, q in enumerate(req(spec)):
            nodes[node]["alloc"][i] -= q
    return node, spec


def why_not(spec, name, replica, node, leaving=None):
    n = nodes.get(node)
    if n is None:
        return "unknown node"
    if n["state"] != "ready":
        return "not ready"
    burst = spec.get("qos") in ("burstable", "besteffort")
    for i, q in enumerate(req(spec)):
        if q and n["alloc"][i] + q + (n["ld"][i] if burst else 0) > n["cap"][i]:
            return "over capacity in " + RES[i]
    if spec.get("region") and n.get("region") != spec["region"]:
        return "outside region"
    for k, v in (spec.get("selector") or {}).items():
        if (n.get("labels") or {}).get(k) != v:
            return "selector"
    sp = spec.get("spread")
    if sp:
        for (t, r), (other, _) in live.items():
            if t != name or r == replica or other not in nodes or nodes[other]["state"] == "dead":
                continue
            if sp == "node" and other == node:
                return "spread node"
            if sp in ("zone", "region") and nodes[other].get(sp, "") == n.get(sp, ""):
                return "spread " + sp
    if node == leaving:
        return "origin"
    return None


if state_f:
    for l in open(state_f):
        if not l.strip():
            continue
        r = json.loads(l)
        key = (r.get("task"), r.get("replica"))
        if "error" in r:
            seen.add(key)
            continue
        if r.get("event") == "evicted":
            remove(key)
        elif r.get("event") == "moved":
            _, spec = remove(key)
            add(key, r["node"], spec)
        else:
            add(key, r["node"], r)

for lineno, l in enumerate(open(out_f), 1):
    r = json.loads(l)
    name, rep = r["task"], r["replica"]
    key = (name, rep)
    where = "%s:%d" % (out_f, lineno)
    if r.get("event") == "evicted":
        node, spec = remove(key)
        if node != r["node"]:
            die("%s: evicted from %s but was on %s" % (where, r["node"], node))
        if spec.get("priority", 0) > tasks[r["by"]].get("priority", 0) - 10:
            die("%s: evicted a replica of priority %s for %s" % (where, spec.get("priority", 0), r["by"]))
        continue
    if r.get("event") == "moved":
        node, spec = remove(key)
        if node != r["from"]:
            die("%s: moved from %s but was on %s" % (where, r["from"], node))
        w = why_not(spec, name, rep, r["node"], node)
        if w:
            die("%s: moved onto %s: %s" % (where, r["node"], w))
        add(key, r["node"], spec)
        continue
    spec = tasks.get(name) or live.get(key, (None, r))[1]
    seen.add(key)
    if r.get("error"):
        unsched += 1
        m = re.match(r"0/(\d+) nodes available: (.*)$", r["reason"])
        if not m or int(m.group(1)) != len(nodes):
            die("%s: bad reason %r" % (where, r["reason"]))
        if nodes:
            total = sum(int(p.split(" ", 1)[0]) for p in m.group(2).split(", "))
            if total != len(nodes):
                die("%s: reason counts %d nodes of %d" % (where, total, len(nodes)))
        if feasible_check:
            for node in nodes:
                if why_not(spec, name, rep, node, r.get("from")) is None:
                    die("%s: unschedulable but fits on %s" % (where, node))
        continue
    placed += 1
    w = why_not(spec, name, rep, r["node"])
    if w:
        die("%s: %s on %s: %s" % (where, name, r["node"], w))
    if key in live:
        remove(key)
    add(key, r["node"], spec)

for name, t in tasks.items():
    for rep in range(t.get("replicas", 1)):
        if (name, rep) not in seen and (name, rep) not in live:
            die("replica %s/%d neither placed nor explained" % (name, rep))
for n in nodes.values():
    for i in range(3):
        if n["alloc"][i] > n["cap"][i] and n["state"] == "ready":
            die("node %s over capacity in %s" % (n["node"], RES[i]))
print("ok %d placed %d unschedulable" % (placed, unsched))

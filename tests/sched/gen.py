#!/usr/bin/env python3
"""Generate a node pool and a workload for cce-sched tests and benchmarks.

gen.py nodes N [--seed S] [--uniform] [--shapes K] [--fleet] > nodes.jsonl
gen.py tasks M [--seed S] [--replicas R] [--constraints] [--single] [--fleet] > tasks.jsonl

Nodes come in a handful of shapes (region, zone, arch, size) like a real
fleet; --uniform gives every node the same shape and capacity. A few nodes
are cordoned, suspect or dead unless --uniform.

--fleet is the shape of issue 18: every node ready, in one of 3 regions and
9 zones, with two labels (arch, tier), one of 4 capacities and a zero load;
tasks single-replica with cpu from {0.25, 0.5, 1} and mem_mb from
{128, 256, 512}, nothing else.
"""
import json
import random
import sys


def nodes(n, rng, uniform, shapes):
    regions = ["sh", "bj", "gz"]
    sizes = [(4, 4096), (8, 8192), (16, 32768), (2, 2048)]
    for i in range(n):
        if uniform:
            region, zone, arch, (cpu, mem), state = "sh", "sh-a", "amd64", (8, 8192), "ready"
        else:
            k = rng.randrange(shapes)
            region = regions[k % 3]
            zone = "%s-%s" % (region, "abc"[(k // 3) % 3])
            arch = ["amd64", "arm64"][(k // 9) % 2]
            cpu, mem = sizes[(k // 18) % 4]
            state = rng.choices(["ready", "cordoned", "suspect", "dead"], [90, 4, 3, 3])[0]
        yield {"node": "n%05d" % i, "addr": "10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255),
               "region": region, "zone": zone, "labels": {"arch": arch},
               "capacity": {"cpu": cpu, "mem_mb": mem, "disk_mb": 100000},
               "load": {"cpu": round(rng.uniform(0, cpu / 2), 1),
                        "mem_mb": rng.randrange(0, mem // 2)},
               "services": [], "cost": rng.choice([0.5, 1, 1.5, 2]), "state": state,
               "joined": 1700000000000, "last_seen": 1700000000000}


def fleet_nodes(n, rng):
    sizes = [(4, 8192), (8, 16384), (16, 65536), (32, 131072)]
    for i in range(n):
        region = rng.choice(["sh", "bj", "gz"])
        yield {"node": "n%05d" % i, "addr": "10.%d.%d.%d" % (i >> 16, (i >> 8) & 255, i & 255),
               "region": region, "zone": "%s-%s" % (region, rng.choice("abc")),
               "labels": {"arch": rng.choice(["amd64", "arm64"]),
                          "tier": rng.choice(["general", "compute", "memory"])},
               "capacity": dict(zip(("cpu", "mem_mb"), rng.choice(sizes))),
               "load": {"cpu": 0, "mem_mb": 0}}


def fleet_tasks(m, rng):
    for i in range(m):
        yield {"task": "t%06d" % i, "cpu": rng.choice([0.25, 0.5, 1]),
               "mem_mb": rng.choice([128, 256, 512])}


def tasks(m, rng, replicas, constraints, single):
    for i in range(m):
        t = {"task": "t%06d" % i}
        if single:
            t.update(cpu=0.25, mem_mb=256)
        else:
            t.update(replicas=rng.randint(1, replicas), cpu=rng.choice([0.1, 0.25, 0.5, 1, 2, 3]),
                     mem_mb=rng.choice([64, 128, 256, 1024, 3000]),
                     priority=rng.choice([0, 0, 5, 10, 20, 50]))
        if constraints:
            r = rng.random()
            if r < 0.2:
                t["region"] = rng.choice(["sh", "bj", "gz", "xx"])
            elif r < 0.4:
                t["selector"] = {"arch": rng.choice(["amd64", "arm64"])}
            if rng.random() < 0.3:
                t["spread"] = rng.choice(["node", "zone", "region"])
            if rng.random() < 0.2:
                t["qos"] = rng.choice(["burstable", "besteffort"])
            if rng.random() < 0.1:
                t["prefer"] = {"zone": rng.choice(["sh-a", "bj-b"])}
        yield t


def main():
    a = sys.argv[1:]
    what, count = a[0], int(a[1])
    opt = lambda name, d: type(d)(a[a.index(name) + 1]) if name in a else d
    rng = random.Random(opt("--seed", 1))
    if "--fleet" in a:
        it = fleet_nodes(count, rng) if what == "nodes" else fleet_tasks(count, rng)
    elif what == "nodes":
        it = nodes(count, rng, "--uniform" in a, opt("--shapes", 72))
    else:
        it = tasks(count, rng, opt("--replicas", 3), "--constraints" in a, "--single" in a)
    out = sys.stdout
    for rec in it:
        out.write(json.dumps(rec, separators=(",", ":")) + "\n")


main()

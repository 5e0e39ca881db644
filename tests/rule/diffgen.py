#!/usr/bin/env python3
"""Generate `when` expressions and records for the differential test.

diffgen.py DIR N_EXPR N_REC SEED writes DIR/rules.json (one rule per
expression, keyed by the record's index so that every record is its own
key: a firing alert means the condition held), DIR/records.jsonl and
DIR/verdicts.jq, a jq program printing, for each record, the verdict of
every expression: true, false or "error".
"""
import json, random, sys

d, nexpr, nrec, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(seed)

paths = ['.temp', '.name', '.flag', '.n', '.s', '.obj', '.obj.x', '.obj.y.z', '.arr', '.missing',
         '.nul', '."odd key"', '.["a b"]', '.big', '.neg', '.esc', '.uni', '.arr.x', '.temp.x',
         '.name.x', '.flag.x', '.f']
consts = ['80', '80.5', '-5', '0', '1e3', '2.5e-1', '0.1', '100000000000000000000', '"abc"', '""',
          '"ab"', '"abd"', '"\\u00e9"', '"a\\"b"', '"é"', 'true', 'false', 'null', '-0', '12345678901234567890']
ops = ['==', '!=', '<', '<=', '>', '>=']


def operand():
    return rnd.choice(paths) if rnd.random() < 0.6 else rnd.choice(consts)


def cmp():
    if rnd.random() < 0.1:
        return rnd.choice(paths)          # truthiness of a path
    return '%s %s %s' % (operand(), rnd.choice(ops), operand())


def expr(depth=0):
    r = rnd.random()
    if depth < 3 and r < 0.35:
        e = '%s %s %s' % (expr(depth + 1), rnd.choice(['and', 'or']), expr(depth + 1))
        return '(%s)' % e if rnd.random() < 0.3 else e
    if depth < 3 and r < 0.4:
        return '(%s)' % expr(depth + 1)
    return cmp()


def value():
    k = rnd.random()
    if k < 0.3:
        return rnd.choice([79, 80, 81, 80.5, -5, 0, 1000, 0.25, 1e20, -0.0, 2.5e-1, 12345678901234567890])
    if k < 0.5:
        return rnd.choice(['abc', '', 'ab', 'abd', 'é', 'a"b', 'zz', '80'])
    if k < 0.6:
        return rnd.choice([True, False, None])
    if k < 0.7:
        return rnd.choice([[], [1], {'x': 1}, {}])
    if k < 0.8:
        return {'x': value(), 'y': {'z': rnd.choice([1, 'a', None])}} if rnd.random() < 0.7 else 5
    return None


exprs = []
seen = set()
while len(exprs) < nexpr:
    e = expr()
    if e not in seen:
        seen.add(e)
        exprs.append(e)
# a few outside the fast subset, which libjq evaluates
exprs[-5:] = ['.temp > 80 | not', '(.temp // 0) > 80', '.name | test("^a")', '[.arr[]?] | length > 0',
              '.obj | has("x")']

with open(d + '/rules.json', 'w') as f:
    json.dump([{'name': 'e%d' % i, 'key': '.i', 'when': e} for i, e in enumerate(exprs)], f)

fields = ['temp', 'name', 'flag', 'n', 's', 'obj', 'arr', 'nul', 'odd key', 'a b', 'big', 'neg', 'esc', 'uni', 'f']
with open(d + '/records.jsonl', 'w') as f:
    for i in range(nrec):
        rec = {'i': i}
        for k in fields:
            if rnd.random() < 0.8:
                rec[k] = value()
        if rnd.random() < 0.2:
            rec['esc'] = 'a\u00e9"\\b'
        line = json.dumps(rec, separators=(',', ':'), ensure_ascii=rnd.random() < 0.5)
        f.write(line + '\n')

with open(d + '/verdicts.jq', 'w') as f:
    parts = ['(try ([first(%s)] | if length == 0 then false else (.[0] != false and .[0] != null) end) catch "error")' % e
             for e in exprs]
    f.write('[' + ',\n'.join(parts) + ']\n')

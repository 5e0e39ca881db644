#!/usr/bin/env bats
# cce-rule: generated `when` expressions give the same verdicts through
# cce-rule (its fast path where it applies, libjq otherwise) as through the
# jq program, on the same records.

load lib/common
load rule/helpers

@test "rule: differential: a few hundred generated when expressions, cce-rule against jq" {
	D="$BATS_TEST_TMPDIR"
	# under valgrind a smaller run: libjq is slow there
	local n=300 m=400
	[ -z "${CCE_RULE_VALGRIND:-}" ] || { n=60; m=100; }
	python3 "$BATS_TEST_DIRNAME/rule/diffgen.py" "$D" $n $m "${CCE_RULE_DIFF_SEED:-4242}"
	jq -c -f "$D/verdicts.jq" "$D/records.jsonl" >"$D/jq.out"
	run_cce cce_rule -r "$D/rules.json" --status "$D/st" "$D/records.jsonl"
	printf '%s\n' "$output" >"$D/cce.out"
	run_cce cce_rule --check -r "$D/rules.json"
	printf '%s\n' "$output" >"$D/check.out"
	python3 - "$D" $n $m <<'PY'
import json, sys
d = sys.argv[1]
jq = [json.loads(l) for l in open(d + '/jq.out')]
rules = json.load(open(d + '/rules.json'))
fired = set()
for l in open(d + '/cce.out'):
    if l.strip():
        a = json.loads(l)
        assert a['state'] == 'firing', a
        fired.add((a['rule'], a['key']))
errors = {s['rule']: s['errors'] for s in map(json.loads, open(d + '/st'))}
fast = sum(1 for l in open(d + '/check.out') if 'when' in json.loads(l)['fast'])
bad = 0
kinds = {True: 0, False: 0, 'error': 0}
for j, r in enumerate(rules):
    want_err = 0
    for i, v in enumerate(jq):
        kinds[v[j]] += 1
        got = (r['name'], i) in fired
        if v[j] == 'error':
            want_err += 1
            if got:
                bad += 1
                print('%s on record %d: jq failed, cce-rule fired: %s' % (r['name'], i, r['when']))
        elif got != v[j]:
            bad += 1
            if bad < 20:
                print('%s on record %d: jq says %s, cce-rule %s: %s' % (r['name'], i, v[j], got, r['when']))
    if errors[r['name']] != want_err:
        bad += 1
        print('%s: %d errors in jq, %d in cce-rule: %s' % (r['name'], want_err, errors[r['name']], r['when']))
print('verdicts: %(t)d true, %(f)d false, %(e)d errors; %(fast)d of %(n)d expressions on the fast path' %
      dict(t=kinds[True], f=kinds[False], e=kinds['error'], fast=fast, n=len(rules)))
# the test means something only if the fast path was exercised and all verdicts occur
n, m = int(sys.argv[2]), int(sys.argv[3])
assert fast >= n * 0.9 and min(kinds.values()) > n * m / 20, kinds
sys.exit(1 if bad else 0)
PY
}

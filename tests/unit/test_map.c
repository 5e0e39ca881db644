/* Unit tests of lib/map and of the table hashes of lib/hash. */
#include <stdio.h>
#include <stdlib.h>

#include "hash.h"
#include "map.h"
#include "t.h"

static intptr_t num_of(const struct map *m, const char *k, size_t n)
{
	const struct map_ent *e = map_get(m, k, n);
	return e ? e->num : -1;
}

/* what cce-sched's string map was tested for, on the shared one */
static void test_intern(void)
{
	struct map m;
	map_init(&m, MAP_COPY_KEYS);
	char k[32];
	ok(num_of(&m, "x", 1) == -1, "an empty map finds nothing");
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(k, sizeof k, "key-%d", i);
		map_intern(&m, k, (size_t)n, i);
	}
	int bad = 0;
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(k, sizeof k, "key-%d", i);
		bad += num_of(&m, k, (size_t)n) != i;
	}
	ok(bad == 0 && m.n == 5000, "map finds 5000 keys after growing");
	ok(m.n * 4 <= m.cap * 3, "at most 3/4 full (%zu of %zu)", m.n, m.cap);
	ok(num_of(&m, "key-5000", 8) == -1, "map misses an absent key");
	ok(map_intern(&m, "key-7", 5, 99) == 7, "map_intern keeps the first value");
	ok(map_intern(&m, "a\0b", 3, 1) == 1 && num_of(&m, "a\0c", 3) == -1 &&
	   num_of(&m, "a\0b", 3) == 1 && num_of(&m, "a", 1) == -1, "keys may hold NUL");
	const struct map_ent *e = map_get(&m, "key-12", 6);
	ok(e && e->len == 6 && strcmp(e->key, "key-12") == 0, "a copied key reads as a C string");
	map_free(&m);
	ok(m.n == 0 && m.cap == 0 && num_of(&m, "key-1", 5) == -1, "freed: empty again");
}

/* borrowed keys, deletes that shift runs back, and a churning table */
static void test_del(void)
{
	struct map m;
	map_init(&m, 0);
	static char names[5000][16];
	bool added;
	for (int i = 0; i < 5000; i++) {
		int n = snprintf(names[i], sizeof names[i], "n%d", i);
		map_put(&m, names[i], (size_t)n, &added)->val = names[i];
	}
	ok(map_get(&m, "n42", 3)->key == names[42], "a borrowed key is the caller's");
	for (int i = 0; i < 5000; i += 2)
		map_del(&m, map_get(&m, names[i], strlen(names[i])));
	int right = 0;
	for (int i = 0; i < 5000; i++) {
		struct map_ent *x = map_get(&m, names[i], strlen(names[i]));
		right += (x != NULL) == (i % 2 == 1) && (!x || x->val == names[i]);
	}
	ok(right == 5000 && m.n == 2500, "deletes keep every other entry findable (%d right)", right);
	size_t cap = m.cap;
	char k[32];
	/* add and delete many times what the table holds: no tombstones fill it */
	for (int i = 0; i < 50000; i++) {
		int n = snprintf(k, sizeof k, "t%d", i);
		struct map_ent *x = map_put(&m, k, (size_t)n, &added);
		if (!added)
			break;
		map_del(&m, x);
	}
	ok(m.n == 2500 && m.cap == cap, "churn leaves size and capacity as they were");
	int seen = 0;
	MAP_FOREACH(&m, x)
		seen++;
	ok(seen == 2500, "MAP_FOREACH visits each entry once");
	map_reserve(&m, 100000);
	ok(m.cap >= (2500 + 100000) * 4 / 3 && map_get(&m, "n1", 2), "reserve grows and keeps");
	uint64_t h = map_hash("n3", 2);
	const struct map_ent *g = map_guess(&m, h);
	ok(g && g->key == names[3], "map_guess finds the entry of a hash");
	map_prefetch(&m, h);
	map_free(&m);
}

/* the reason the map mixes FNV: names that differ in their last byte */
static void test_spread(void)
{
	enum { N = 4096, CAP = 8192 };
	static unsigned char used[CAP];
	char k[32];
	int longest = 0, run = 0, slots = 0;
	for (int i = 0; i < N; i++) {
		int n = snprintf(k, sizeof k, "edge-%d", i);
		used[map_hash(k, (size_t)n) & (CAP - 1)] = 1;
	}
	for (int i = 0; i < CAP; i++) {
		slots += used[i];
		run = used[i] ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	/* a random function fills about 1 - 1/e^(1/2) of the slots */
	ok(slots > CAP * 36 / 100, "edge-N hashes spread (%d of %d slots)", slots, CAP);
	ok(longest < 16, "no long run of slots (longest %d)", longest);
	/* FNV-1a's lowest bit is the parity of its bytes' lowest bits (its
	 * prime is odd): the mixed hash's is a coin toss */
	int same = 0;
	for (int i = 0; i < N; i++) {
		int n = snprintf(k, sizeof k, "edge-%d", i), parity = 0;
		for (int j = 0; j < n; j++)
			parity ^= k[j] & 1;
		same += (int)(map_hash(k, (size_t)n) & 1) == parity;
	}
	ok(same > N * 45 / 100 && same < N * 55 / 100,
	   "the low bit is not the bytes' parity (%d of %d alike)", same, N);
	ok(fnv1a64(FNV_BASIS, "a", 1) == 0xaf63dc4c8601ec8cULL, "FNV-1a of \"a\" is the reference one");
	ok(fnv1a64(fnv1a64(CCE_FNV_BASIS, "ab", 2), "c", 1) == fnv1a64(CCE_FNV_BASIS, "abc", 3),
	   "FNV-1a continues from a hash");
	ok(mix64(0) == 0xe220a8397b1dcdafULL, "mix64 is splitmix64's");
}

int main(void)
{
	test_intern();
	test_del();
	test_spread();
	return done_testing();
}

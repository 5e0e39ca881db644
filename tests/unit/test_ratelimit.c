/* Unit tests of lib/ratelimit: the token bucket on a clock the test drives. */
#include <string.h>

#include "ratelimit.h"
#include "t.h"

#define S 1000000000LL

int main(void)
{
	char err[256];
	uint64_t r;
	ok(ratelimit_parse("--rate-limit", "500K", &r, err, sizeof err) == 0 && r == 512000, "500K");
	ok(ratelimit_parse("--rate-limit", "1MB/s", &r, err, sizeof err) == 0 && r == 1000000, "1MB/s");
	ok(ratelimit_parse("--rate-limit", "2048", &r, err, sizeof err) == 0 && r == 2048, "bare bytes");
	static const char *bad[] = { "", "0", "/s", "fast", "-1K", "1K/m", "1K/s/s" };
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		ok(ratelimit_parse("--rate-limit", bad[i], &r, err, sizeof err) < 0, "bad rate '%s'", bad[i]);
	ratelimit_parse("--rate-limit", "fast", &r, err, sizeof err);
	is_str(err, "--rate-limit: invalid rate 'fast' (use e.g. 500K, 10MiB or 1MB/s)", "message");

	struct ratelimit rl;
	ratelimit_init(&rl, 1000000, 0); /* 1 MB/s: a 100 kB bucket */
	ok(ratelimit_take(&rl, 100000, 0) == 0, "a full bucket sends at once");
	ok(ratelimit_take(&rl, 50000, 0) == 50 * 1000000LL, "then 50 kB waits 50 ms");
	ok(ratelimit_take(&rl, 0, S / 20) == 0, "paid off after 50 ms");
	/* 10 s of 64 KiB writes, each sent when the bucket says: the bytes
	 * sent stay within rate * time + burst */
	int64_t now = S, sent = 0;
	ratelimit_free(&rl);
	ratelimit_init(&rl, 1000000, now);
	while (now < 11 * S) {
		now += ratelimit_take(&rl, 65536, now);
		sent += 65536;
	}
	ok(sent <= 10 * 1000000 + 100000 + 65536, "10 s: %lld bytes, within rate * time + burst",
	   (long long)sent);
	ok(sent >= 10 * 1000000 - 65536, "10 s: %lld bytes, the rate is reached", (long long)sent);
	ratelimit_free(&rl);

	ratelimit_init(&rl, 0, 0);
	ok(ratelimit_take(&rl, 1 << 30, 0) == 0, "rate 0: no limit");
	ratelimit_free(&rl);

	ratelimit_init(&rl, 1000000, ratelimit_now_ns());
	int64_t t0 = ratelimit_now_ns();
	ratelimit_pace(&rl, 100000 + 20000, NULL, NULL);
	ok(ratelimit_now_ns() - t0 >= 20 * 1000000LL, "pace sleeps the debt off");
	ratelimit_free(&rl);
	return done_testing();
}

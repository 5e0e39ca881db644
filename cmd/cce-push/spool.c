#include "spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

#include "buf.h"
#include "fsutil.h"
#include "hash.h"
#include "sig.h"

/*
 * A frame: a fixed header, then keylen bytes of placeholder values, then
 * len bytes of records. The hash covers the frame's position, its record
 * count and both bodies, so a torn or stale frame never verifies, and it
 * is the batch id. Frames with FRAME_MAGIC hold XXH3-128 (fast enough to
 * run on the reader at disk speed; SHA-256 took a quarter of its time);
 * frames of older spools, FRAME_MAGIC_SHA, the first 16 bytes of SHA-256,
 * which recovery still checks and whose ids stay as they were.
 */
#define HDR_LEN 40
#define FRAME_MAGIC "CCEC"
#define FRAME_MAGIC_SHA "CCEB"
#define ACK_MAGIC "CCEA"
#define ACK_LEN 24

struct hdr {
	uint32_t nrec, keylen;
	uint64_t len;
	unsigned char hash[16];
	bool sha;             /* a FRAME_MAGIC_SHA frame */
};

struct seg {
	uint64_t start, size;
	int fd;
};

struct flight {
	uint64_t off, end;
	uint32_t nrec;
	bool done;
};

struct run {
	uint64_t off, end;
};

/* The headers of the frames appended last, oldest first, so that handing
 * a frame out needs no read of its header with the lock held. Bounded:
 * a frame missing here (appended while it was full, or recovered) is
 * read from its segment instead. */
#define RING_LEN 256
struct ring_frame {
	uint64_t off;
	struct hdr h;
};

struct spool {
	pthread_mutex_t mu;
	pthread_cond_t cond;      /* senders and the reader wait on it */
	pthread_cond_t sync_cond; /* the syncer waits on it alone: the
				   * senders' acknowledgements never wake it */
	char *dir;
	bool mem, drop_oldest;
	uint64_t max, seg_size;
	int lockfd, ackfd;

	struct seg *segs;
	size_t nsegs, segcap;
	/* segments taken out of segs, to be closed and unlinked by whoever
	 * unlocks next (unlock_reap): the last close of a deleted segment
	 * frees its page cache and takes milliseconds, too long to hold
	 * the lock the reader and the senders share */
	struct seg *dead;
	size_t ndead, deadcap;

	/* ack <= send <= wend <= pend: acknowledged, handed out, written
	 * and synced (visible to senders), written */
	uint64_t ack, send, wend, pend;
	/* records and batches ever written, and of those ever synced */
	uint64_t wrote_recs, wrote_batches, synced_recs, synced_batches;
	uint64_t group;           /* bytes that may wait for one fsync */
	/* The syncer thread fsyncs a group while the reader goes on writing
	 * the next one: nothing counts as synced before its fdatasync
	 * returned, but the reader need not wait for it. One sync runs at a
	 * time (syncing), by the syncer or by a caller of spool_sync. */
	pthread_t syncer;
	bool has_syncer, syncer_stop, syncing;
	/* a segment was created since the directory was last synced: the
	 * next sync syncs it too, before any frame of the new segment is
	 * handed out (off the reader, which would wait for it otherwise) */
	bool dir_dirty;
	uint64_t want;            /* the syncer is asked to sync up to here */
	int sync_errno;           /* a failed background sync, or 0 */
	uint64_t sync_err_seg;    /* ... of the segment starting here */
	void (*idle)(void *);
	void *idle_arg;
	struct ring_frame ring[RING_LEN];
	size_t rhead, rcount;
	struct flight *fl;
	size_t nfl, flcap;
	uint64_t done_bytes;      /* frames done but behind one still in flight */
	uint64_t backlog_recs;
	uint64_t ack_gen;
	uint64_t ack_wgen;        /* generation of the last ack record written */
	/* runs of frames beyond send known done from an earlier run (read
	 * from the ack file): handed out as done, never sent */
	struct run *pre;
	size_t npre;
	bool can_punch;           /* the file system frees holes punched */
	bool input_closed, aborted;
	struct spool_stats st;
};

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t get64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static void encode_hdr(unsigned char *p, const struct hdr *h)
{
	memcpy(p, FRAME_MAGIC, 4);
	put32(p + 4, h->nrec);
	put32(p + 8, h->keylen);
	put32(p + 12, 0);
	put64(p + 16, h->len);
	memcpy(p + 24, h->hash, 16);
}

static int decode_hdr(const unsigned char *p, struct hdr *h)
{
	h->sha = memcmp(p, FRAME_MAGIC_SHA, 4) == 0;
	if ((!h->sha && memcmp(p, FRAME_MAGIC, 4) != 0) || get32(p + 12) != 0)
		return -1;
	h->nrec = get32(p + 4);
	h->keylen = get32(p + 8);
	h->len = get64(p + 16);
	memcpy(h->hash, p + 24, 16);
	/* bounds that no frame we write exceeds: a torn header fails here */
	if (h->keylen > (1u << 20) || h->len > ((uint64_t)1 << 32))
		return -1;
	return 0;
}

void spool_batch_id(uint64_t off, uint32_t nrec, const char *key, size_t keylen,
		    const char *data, size_t len, unsigned char out[16])
{
	unsigned char pre[12];
	put64(pre, off);
	put32(pre + 8, nrec);
	XXH3_state_t *c = XXH3_createState();
	if (!c || XXH3_128bits_reset(c) != XXH_OK)
		abort();
	XXH3_128bits_update(c, pre, sizeof pre);
	XXH3_128bits_update(c, key, keylen);
	XXH3_128bits_update(c, data, len);
	XXH128_canonical_t d;
	XXH128_canonicalFromHash(&d, XXH3_128bits_digest(c));
	XXH3_freeState(c);
	memcpy(out, d.digest, 16);
}

/* The id of a FRAME_MAGIC_SHA frame. */
static void batch_id_sha(uint64_t off, uint32_t nrec, const char *key, size_t keylen,
			 const char *data, size_t len, unsigned char out[16])
{
	unsigned char pre[12], d[SHA256_LEN];
	put64(pre, off);
	put32(pre + 8, nrec);
	struct sha256_ctx c;
	if (sha256_init(&c) < 0)
		abort();
	sha256_update(&c, pre, sizeof pre);
	sha256_update(&c, key, keylen);
	sha256_update(&c, data, len);
	if (sha256_final(&c, d) < 0)
		abort();
	memcpy(out, d, 16);
}

static int pread_all(int fd, void *p, size_t n, uint64_t off)
{
	char *s = p;
	while (n) {
		ssize_t r = pread(fd, s, n, (off_t)off);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (r == 0) {
			errno = EIO;
			return -1;
		}
		s += r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

static int pwritev_all(int fd, struct iovec *iov, int cnt, uint64_t off)
{
	while (cnt) {
		ssize_t w = pwritev(fd, iov, cnt, (off_t)off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		off += (uint64_t)w;
		while (cnt && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

static void seg_path(const struct spool *s, uint64_t start, char *out, size_t n)
{
	snprintf(out, n, "%s/%016" PRIx64 ".seg", s->dir, start);
}

static int seg_create(struct spool *s, uint64_t start, char *err, size_t errlen)
{
	int fd;
	char path[4096];
	if (s->mem) {
		fd = memfd_create("cce-push-spool", MFD_CLOEXEC);
		if (fd < 0) {
			snprintf(err, errlen, "cannot create a memory spool segment: %s", strerror(errno));
			return -1;
		}
	} else {
		seg_path(s, start, path, sizeof path);
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0) {
			snprintf(err, errlen, "cannot create '%s': %s", path, strerror(errno));
			return -1;
		}
	}
	pthread_mutex_lock(&s->mu);
	s->dir_dirty = !s->mem;
	if (s->nsegs == s->segcap) {
		s->segcap = s->segcap ? 2 * s->segcap : 16;
		s->segs = xrealloc(s->segs, s->segcap * sizeof *s->segs);
	}
	s->segs[s->nsegs++] = (struct seg){ start, 0, fd };
	pthread_mutex_unlock(&s->mu);
	return 0;
}

static void seg_delete(struct spool *s, size_t i)
{
	if (!s->mem) {
		char path[4096];
		seg_path(s, s->segs[i].start, path, sizeof path);
		unlink(path);
	}
	close(s->segs[i].fd);
	memmove(s->segs + i, s->segs + i + 1, (s->nsegs - i - 1) * sizeof *s->segs);
	s->nsegs--;
}

/* Take segment i out of the list; unlock_reap deletes it. Lock held. */
static void seg_retire(struct spool *s, size_t i)
{
	if (s->ndead == s->deadcap) {
		s->deadcap = s->deadcap ? 2 * s->deadcap : 4;
		s->dead = xrealloc(s->dead, s->deadcap * sizeof *s->dead);
	}
	s->dead[s->ndead++] = s->segs[i];
	memmove(s->segs + i, s->segs + i + 1, (s->nsegs - i - 1) * sizeof *s->segs);
	s->nsegs--;
}

/* Unlock, then delete the retired segments. Their frames are all done and
 * the ack file says so already; a crash before the unlink leaves a
 * segment that recovery deletes or steps over, as it would have before. */
static void unlock_reap(struct spool *s)
{
	struct seg *dead = s->dead;
	size_t n = s->ndead;
	s->dead = NULL;
	s->ndead = s->deadcap = 0;
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		if (!s->mem) {
			char path[4096];
			seg_path(s, dead[i].start, path, sizeof path);
			unlink(path);
		}
		close(dead[i].fd);
	}
	free(dead);
}

/* Unlock, leaving the retired segments to the syncer where there is one
 * (it is idle between syncs): the sender that acknowledged the last
 * frame of a segment goes on sending instead of closing it. Not where
 * the space must be free at once (a full file system: unlock_reap). */
static void unlock_defer(struct spool *s)
{
	if (!s->has_syncer || !s->ndead) {
		unlock_reap(s);
		return;
	}
	pthread_cond_signal(&s->sync_cond);
	pthread_mutex_unlock(&s->mu);
}

/* Segments wholly before the acknowledged position go; the last one stays
 * because it is being written. Called with the lock held; the caller
 * unlocks with unlock_reap. */
static void cleanup(struct spool *s)
{
	while (s->nsegs > 1 && s->segs[1].start <= s->ack)
		seg_retire(s, 0);
	/* Segments of frames that are all done (dropped, or delivered out of
	 * order) go too, even behind a frame still in flight: that keeps
	 * --spool-max a bound on the disk. Recovery takes the gap for what
	 * it is. */
	size_t k = 0;
	for (size_t i = 0; i + 1 < s->nsegs;) {
		uint64_t a = s->segs[i].start, b = s->segs[i + 1].start;
		if (b > s->send)
			goto keep;
		while (k < s->nfl && s->fl[k].off < a)
			k++;
		bool all_done = true;
		for (size_t j = k; j < s->nfl && s->fl[j].off < b; j++)
			if (!s->fl[j].done)
				all_done = false;
		if (all_done) {
			seg_retire(s, i);
			continue;
		}
	keep:
		i++;
	}
}

/* the segment holding global position off; lock held */
static struct seg *seg_find(struct spool *s, uint64_t off)
{
	for (size_t i = s->nsegs; i-- > 0;)
		if (s->segs[i].start <= off)
			return &s->segs[i];
	return NULL;
}

/*
 * The ack file: where the oldest frame not yet done starts, and the runs
 * of frames beyond it that are done already (delivered out of order, or
 * dropped behind a batch still in flight), so that a restart neither
 * resends a dropped frame nor mistakes a punched hole for a torn tail.
 * Two slots of ACK_SLOT bytes in one 4 KiB block, written alternately in
 * place (no new blocks on a full file system; a torn slot leaves the
 * other); the one with the higher generation and a good check word wins.
 * A slot: magic, run count, generation, ack, runs, FNV-1a of the rest.
 */
#define ACK2_MAGIC "CCEK"
#define ACK_SLOT 2048
#define ACK_RUNS_MAX ((ACK_SLOT - 32) / 16)

static uint64_t fnv64(const unsigned char *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ULL;
	return h;
}

/* The runs of done frames beyond ack, in order and merged: those handed
 * out and done, then those known done from an earlier run and not yet
 * reached. Lock held. */
static size_t done_runs(const struct spool *s, struct run *out, size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < s->nfl; i++) {
		const struct flight *f = &s->fl[i];
		if (!f->done || f->end == f->off)
			continue;
		if (n && out[n - 1].end == f->off)
			out[n - 1].end = f->end;
		else if (n < max)
			out[n++] = (struct run){ f->off, f->end };
		else
			return n;
	}
	for (size_t i = 0; i < s->npre; i++) {
		struct run r = s->pre[i];
		if (r.end <= s->send)
			continue;
		if (r.off < s->send)
			r.off = s->send;
		if (n && out[n - 1].end == r.off)
			out[n - 1].end = r.end;
		else if (n < max)
			out[n++] = r;
		else
			return n;
	}
	return n;
}

static int write_ack(struct spool *s)
{
	if (s->mem)
		return 0;
	unsigned char rec[ACK_SLOT];
	struct run runs[ACK_RUNS_MAX];
	size_t n = done_runs(s, runs, ACK_RUNS_MAX);
	memcpy(rec, ACK2_MAGIC, 4);
	put32(rec + 4, (uint32_t)n);
	put64(rec + 8, ++s->ack_wgen);
	put64(rec + 16, s->ack);
	for (size_t i = 0; i < n; i++) {
		put64(rec + 24 + 16 * i, runs[i].off);
		put64(rec + 32 + 16 * i, runs[i].end);
	}
	size_t body = 24 + 16 * n;
	put64(rec + body, fnv64(rec, body));
	/* one write in place, into the slot not holding the last record: kill
	 * -9 cannot tear it, and a torn sector leaves the other slot. Only
	 * the used part is written (one per batch: 32 bytes without runs);
	 * what follows it in the slot is never read */
	off_t at = (off_t)(s->ack_wgen & 1) * ACK_SLOT;
	ssize_t len = (ssize_t)(body + 8);
	return pwrite(s->ackfd, rec, (size_t)len, at) == len ? 0 : -1;
}

/* One slot: 0 and its contents, or -1 when it does not verify. */
static int read_ack_slot(const unsigned char *rec, size_t avail, uint64_t *gen, uint64_t *ack,
			 struct run *runs, size_t *nruns)
{
	if (avail < 32 || memcmp(rec, ACK2_MAGIC, 4) != 0)
		return -1;
	uint32_t n = get32(rec + 4);
	if (n > ACK_RUNS_MAX || 32 + 16 * (size_t)n > avail ||
	    get64(rec + 24 + 16 * n) != fnv64(rec, 24 + 16 * n))
		return -1;
	*gen = get64(rec + 8);
	*ack = get64(rec + 16);
	uint64_t last = *ack;
	for (uint32_t i = 0; i < n; i++) {
		runs[i].off = get64(rec + 24 + 16 * i);
		runs[i].end = get64(rec + 32 + 16 * i);
		if (runs[i].off < last || runs[i].end <= runs[i].off)
			return -1;
		last = runs[i].end;
	}
	*nruns = n;
	return 0;
}

/* The acknowledged position and the done runs beyond it (into s->pre);
 * an older spool's 24-byte record is read too. */
static uint64_t read_ack(struct spool *s)
{
	unsigned char rec[2 * ACK_SLOT];
	ssize_t got = pread(s->ackfd, rec, sizeof rec, 0);
	uint64_t best_gen = 0, best_ack = 0;
	bool found = false;
	for (int slot = 0; slot < 2; slot++) {
		/* a slot holds what its last write put there: the file ends
		 * after the used part of slot 1 */
		if (got <= (ssize_t)slot * ACK_SLOT)
			break;
		size_t avail = (size_t)got - (size_t)slot * ACK_SLOT;
		if (avail > ACK_SLOT)
			avail = ACK_SLOT;
		struct run runs[ACK_RUNS_MAX];
		size_t n;
		uint64_t gen, ack;
		if (read_ack_slot(rec + slot * ACK_SLOT, avail, &gen, &ack, runs, &n) < 0)
			continue;
		if (found && gen <= best_gen)
			continue;
		found = true;
		best_gen = gen;
		best_ack = ack;
		free(s->pre);
		s->pre = xmalloc((n ? n : 1) * sizeof *s->pre);
		memcpy(s->pre, runs, n * sizeof *runs);
		s->npre = n;
	}
	s->ack_wgen = best_gen;
	if (!found && got >= ACK_LEN && memcmp(rec, ACK_MAGIC, 4) == 0 &&
	    get64(rec + 4) == ~get64(rec + 12))
		return get64(rec + 4); /* a spool from before the runs */
	return best_ack;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Check the frames of one segment from local offset pos, stepping over
 * the runs known done (their frames may be holes now); returns the end of
 * the last good frame, adding the records of the others to *recs. */
static uint64_t verify_seg(const struct spool *s, int fd, uint64_t pos, uint64_t size,
			   uint64_t start, uint64_t *recs, struct buf *tmp)
{
	size_t r = 0;
	while (pos < size) {
		while (r < s->npre && s->pre[r].end <= start + pos)
			r++;
		if (r < s->npre && s->pre[r].off <= start + pos) {
			pos = s->pre[r].end - start;
			continue;
		}
		unsigned char hb[HDR_LEN];
		struct hdr h;
		if (size - pos < HDR_LEN || pread_all(fd, hb, HDR_LEN, pos) < 0 || decode_hdr(hb, &h) < 0)
			return pos;
		uint64_t body = (uint64_t)h.keylen + h.len;
		if (size - pos - HDR_LEN < body)
			return pos;
		buf_reset(tmp);
		buf_grow(tmp, (size_t)body);
		if (pread_all(fd, tmp->data, (size_t)body, pos + HDR_LEN) < 0)
			return pos;
		unsigned char id[16];
		(h.sha ? batch_id_sha : spool_batch_id)(start + pos, h.nrec, tmp->data, h.keylen,
							 tmp->data + h.keylen, (size_t)h.len, id);
		if (memcmp(id, h.hash, 16) != 0)
			return pos;
		*recs += h.nrec;
		pos += HDR_LEN + body;
	}
	return pos;
}

/* Keep the done runs that lie within [ack, end) of what recovery kept. */
static void clip_runs(struct spool *s, uint64_t end)
{
	size_t k = 0;
	for (size_t i = 0; i < s->npre; i++) {
		struct run r = s->pre[i];
		if (r.off < s->ack)
			r.off = s->ack;
		if (r.end > end)
			r.end = end;
		if (r.off < r.end)
			s->pre[k++] = r;
	}
	s->npre = k;
}

/* The start offsets of the segment files in the spool, sorted; -1 when
 * the directory cannot be read. */
static ssize_t list_segments(struct spool *s, uint64_t **out, char *err, size_t errlen)
{
	DIR *d = opendir(s->dir);
	if (!d) {
		snprintf(err, errlen, "cannot open spool '%s': %s", s->dir, strerror(errno));
		return -1;
	}
	uint64_t *starts = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char *end;
		size_t l = strlen(e->d_name);
		if (l != 20 || strcmp(e->d_name + 16, ".seg") != 0)
			continue;
		uint64_t v = strtoull(e->d_name, &end, 16);
		if (end != e->d_name + 16)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			starts = xrealloc(starts, cap * sizeof *starts);
		}
		starts[n++] = v;
	}
	closedir(d);
	if (n)
		qsort(starts, n, sizeof *starts, cmp_u64);
	*out = starts;
	return (ssize_t)n;
}

/* What recovery knows while it walks the segments in order. */
struct walk {
	uint64_t pos;   /* where the verified log ends so far */
	bool cut;       /* a torn tail or an overlap: drop every later segment */
	struct buf tmp; /* scratch for verify_seg */
};

/* One segment at START: kept up to its last whole frame (the rest cut off
 * and synced), or deleted when acknowledged already (acked: the next one
 * starts at or below the ack) or past a cut. */
static int recover_seg(struct spool *s, uint64_t start, bool acked, struct walk *w,
		       char *err, size_t errlen)
{
	char path[4096];
	seg_path(s, start, path, sizeof path);
	if (w->cut || acked) {
		unlink(path); /* acknowledged already, or after a torn tail */
		return 0;
	}
	int fd = open(path, O_RDWR | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (s->nsegs == 0) {
		if (s->ack < start)
			s->ack = w->pos = start;
	} else if (start < w->pos) {
		w->cut = true; /* an overlap: nothing after it can be trusted */
		close(fd);
		unlink(path);
		return 0;
	} else {
		w->pos = start; /* a gap: dropped frames whose segment went */
	}
	uint64_t size = (uint64_t)st.st_size;
	uint64_t local = w->pos - start;
	uint64_t good = local > size ? size : verify_seg(s, fd, local, size, start,
						      &s->backlog_recs, &w->tmp);
	if (good < size) {
		if (ftruncate(fd, (off_t)good) < 0 || fsync(fd) < 0) {
			snprintf(err, errlen, "cannot truncate '%s': %s", path, strerror(errno));
			close(fd);
			return -1;
		}
		size = good;
		w->cut = true;
	}
	if (s->nsegs == s->segcap) {
		s->segcap = s->segcap ? 2 * s->segcap : 16;
		s->segs = xrealloc(s->segs, s->segcap * sizeof *s->segs);
	}
	s->segs[s->nsegs++] = (struct seg){ start, size, fd };
	w->pos = start + size;
	return 0;
}

static int recover(struct spool *s, char *err, size_t errlen)
{
	uint64_t *starts = NULL;
	ssize_t n = list_segments(s, &starts, err, errlen);
	if (n < 0)
		return -1;
	s->ack = read_ack(s);
	struct walk w = { .pos = s->ack };
	buf_init(&w.tmp);
	int rc = 0;
	for (ssize_t i = 0; i < n && rc == 0; i++)
		rc = recover_seg(s, starts[i], i + 1 < n && starts[i + 1] <= s->ack, &w, err, errlen);
	free(starts);
	buf_free(&w.tmp);
	if (rc < 0)
		return -1;
	uint64_t pos = w.pos;
	if (s->ack > pos)
		s->ack = pos;
	clip_runs(s, pos);
	if (s->ack == pos && s->nsegs > 0 && pos > s->segs[0].start) {
		/* everything was delivered: start afresh, freeing the space */
		while (s->nsegs > 1)
			seg_delete(s, 0);
		seg_delete(s, 0);
	}
	s->send = s->ack;
	s->wend = s->pend = pos;
	if (s->nsegs == 0 && seg_create(s, s->wend, err, errlen) < 0)
		return -1;
	if (write_ack(s) < 0) {
		snprintf(err, errlen, "cannot write '%s/ack': %s", s->dir, strerror(errno));
		return -1;
	}
	fs_fsync_dir(s->dir);
	return 0;
}

static void *syncer(void *arg);

struct spool *spool_open(const struct spool_opts *o, char *err, size_t errlen)
{
	struct spool *s = xcalloc(1, sizeof *s);
	pthread_mutex_init(&s->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->cond, &ca);
	pthread_cond_init(&s->sync_cond, &ca);
	pthread_condattr_destroy(&ca);
	s->mem = o->dir == NULL;
	s->max = o->max;
	s->drop_oldest = o->drop_oldest;
	s->seg_size = o->seg_size;
	s->group = o->group;
	s->idle = o->idle;
	s->idle_arg = o->idle_arg;
	if (!s->seg_size) {
		s->seg_size = o->max / 16;
		if (s->seg_size < 16 * 1024)
			s->seg_size = 16 * 1024;
		if (s->seg_size > 8 * 1024 * 1024)
			s->seg_size = 8 * 1024 * 1024;
	}
	s->lockfd = s->ackfd = -1;
	s->can_punch = true;
	if (s->mem) {
		if (seg_create(s, 0, err, errlen) < 0) {
			spool_close(s);
			return NULL;
		}
		return s;
	}
	s->dir = xstrdup(o->dir);
	if (fs_mkdirs(s->dir, 0700) < 0) {
		snprintf(err, errlen, "cannot create spool '%s': %s", s->dir, strerror(errno));
		spool_close(s);
		return NULL;
	}
	char path[4096], lerr[512];
	snprintf(path, sizeof path, "%s/lock", s->dir);
	s->lockfd = fs_lock(path, false, lerr, sizeof lerr);
	if (s->lockfd < 0) {
		snprintf(err, errlen, "spool '%s' is in use: %s", s->dir, lerr);
		spool_close(s);
		return NULL;
	}
	snprintf(path, sizeof path, "%s/ack", s->dir);
	s->ackfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->ackfd < 0) {
		snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
		spool_close(s);
		return NULL;
	}
	if (recover(s, err, errlen) < 0) {
		spool_close(s);
		return NULL;
	}
	if (s->group > 0) {
		/* the syncer never takes a signal: the reader's waits are the
		 * ones to wake */
		sigset_t all, old;
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		s->has_syncer = pthread_create(&s->syncer, NULL, syncer, s) == 0;
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	}
	return s;
}

void spool_close(struct spool *s)
{
	if (!s)
		return;
	if (s->has_syncer) {
		pthread_mutex_lock(&s->mu);
		s->syncer_stop = true;
		pthread_cond_signal(&s->sync_cond);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->syncer, NULL);
	}
	pthread_mutex_lock(&s->mu);
	unlock_reap(s);
	/* everything delivered: leave an empty spool, not stale segments */
	if (!s->mem && s->ack == s->pend && s->nfl == 0)
		while (s->nsegs)
			seg_delete(s, 0);
	for (size_t i = 0; i < s->nsegs; i++)
		close(s->segs[i].fd);
	if (s->ackfd >= 0)
		close(s->ackfd);
	fs_unlock(s->lockfd);
	free(s->segs);
	free(s->dead);
	free(s->fl);
	free(s->pre);
	free(s->dir);
	pthread_cond_destroy(&s->cond);
	pthread_cond_destroy(&s->sync_cond);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static void timed_wait(struct spool *s, int ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000000L;
	ts.tv_sec += ts.tv_nsec / 1000000000L;
	ts.tv_nsec %= 1000000000L;
	pthread_cond_timedwait(&s->cond, &s->mu, &ts);
}

static void flight_push(struct spool *s, uint64_t off, uint64_t end, uint32_t nrec, bool done)
{
	if (done)
		s->done_bytes += end - off;
	/* frames done one after the other are one entry: a long outage with
	 * drop-oldest behind a batch in flight keeps the list short */
	if (done && s->nfl && s->fl[s->nfl - 1].done && s->fl[s->nfl - 1].end == off) {
		s->fl[s->nfl - 1].end = end;
		s->fl[s->nfl - 1].nrec += nrec;
		return;
	}
	if (s->nfl == s->flcap) {
		s->flcap = s->flcap ? 2 * s->flcap : 16;
		s->fl = xrealloc(s->fl, s->flcap * sizeof *s->fl);
	}
	s->fl[s->nfl++] = (struct flight){ off, end, nrec, done };
}

/* Move the acknowledged position over the frames that are done; lock
 * held. */
static int advance(struct spool *s)
{
	size_t k = 0;
	uint64_t ack = s->ack;
	while (k < s->nfl && s->fl[k].done) {
		ack = s->fl[k].end;
		s->done_bytes -= s->fl[k].end - s->fl[k].off;
		k++;
	}
	if (!k)
		return 0;
	memmove(s->fl, s->fl + k, (s->nfl - k) * sizeof *s->fl);
	s->nfl -= k;
	/* nothing in flight: every frame before send is done */
	s->ack = ack;
	s->ack_gen++;
	int r = write_ack(s);
	cleanup(s);
	pthread_cond_broadcast(&s->cond);
	return r;
}

/* The run known done from an earlier run that holds position off, or
 * NULL. Lock held. */
static const struct run *pre_run_at(struct spool *s, uint64_t off)
{
	while (s->npre && s->pre[0].end <= off) {
		memmove(s->pre, s->pre + 1, (s->npre - 1) * sizeof *s->pre);
		s->npre--;
	}
	return s->npre && s->pre[0].off <= off ? &s->pre[0] : NULL;
}

/* Step send over a gap left by segments deleted in an earlier run (their
 * frames were all done) and over runs the ack file says are done: they
 * count as done. Lock held. */
static void skip_gap(struct spool *s)
{
	while (s->send < s->wend) {
		const struct run *r = pre_run_at(s, s->send);
		if (r) {
			uint64_t end = r->end < s->wend ? r->end : s->wend;
			flight_push(s, s->send, end, 0, true);
			s->send = end;
			continue;
		}
		struct seg *g = seg_find(s, s->send);
		size_t i = g ? (size_t)(g - s->segs) : 0;
		if (!g || i + 1 >= s->nsegs || s->send < g->start + g->size)
			return;
		flight_push(s, s->send, s->segs[i + 1].start, 0, true);
		s->send = s->segs[i + 1].start;
	}
}

static void ring_push(struct spool *s, uint64_t off, const struct hdr *h)
{
	if (s->rcount == RING_LEN)
		return;
	s->ring[(s->rhead + s->rcount++) % RING_LEN] = (struct ring_frame){ off, *h };
}

/* The header of the frame at off (the next one to hand out or drop):
 * from the ring, or read from its segment. Older ring entries go. 0, or
 * -1 with errno (ENOENT: no segment holds it). Lock held. */
static int frame_at(struct spool *s, uint64_t off, struct hdr *h)
{
	while (s->rcount && s->ring[s->rhead].off < off) {
		s->rhead = (s->rhead + 1) % RING_LEN;
		s->rcount--;
	}
	if (s->rcount && s->ring[s->rhead].off == off) {
		*h = s->ring[s->rhead].h;
		s->rhead = (s->rhead + 1) % RING_LEN;
		s->rcount--;
		return 0;
	}
	struct seg *g = seg_find(s, off);
	unsigned char hb[HDR_LEN];
	if (!g) {
		errno = ENOENT;
		return -1;
	}
	if (pread_all(g->fd, hb, HDR_LEN, off - g->start) < 0)
		return -1;
	if (decode_hdr(hb, h) < 0) {
		errno = EIO;
		return -1;
	}
	return 0;
}

/* Drop the oldest frame not handed out yet; lock held. */
static int drop_one(struct spool *s)
{
	skip_gap(s);
	if (s->send >= s->wend)
		return 0;
	struct hdr h;
	if (frame_at(s, s->send, &h) < 0)
		return -1;
	uint64_t end = s->send + HDR_LEN + h.keylen + h.len;
	flight_push(s, s->send, end, h.nrec, true);
	s->send = end;
	s->backlog_recs -= h.nrec;
	s->st.dropped_records += h.nrec;
	s->st.dropped_batches++;
	advance(s);
	cleanup(s);
	return 0;
}

/* On a full file system only a whole segment makes room. The position
 * up to which the oldest frames not handed out must be dropped so that a
 * segment goes: the end of the first segment, from the one holding the
 * next frame to send, that is not the one being written, holds no batch
 * still in flight and was synced whole; 0 when there is none. Lock held. */
static uint64_t room_boundary(struct spool *s)
{
	skip_gap(s);
	struct seg *g = s->send < s->wend ? seg_find(s, s->send) : NULL;
	if (!g)
		return 0;
	for (size_t i = (size_t)(g - s->segs); i + 1 < s->nsegs; i++) {
		uint64_t a = s->segs[i].start, b = s->segs[i + 1].start;
		if (b > s->wend)
			return 0;
		bool busy = false;
		for (size_t j = 0; j < s->nfl && !busy; j++)
			busy = s->fl[j].off >= a && s->fl[j].off < b && !s->fl[j].done;
		if (!busy)
			return b;
	}
	return 0;
}

#define PUNCH_BLOCK 4096

/* The bytes of the whole blocks inside [a, b). */
static uint64_t whole_blocks(uint64_t a, uint64_t b)
{
	uint64_t x = (a + PUNCH_BLOCK - 1) / PUNCH_BLOCK, y = b / PUNCH_BLOCK;
	return y > x ? (y - x) * PUNCH_BLOCK : 0;
}

/* Free the whole blocks of [a, b) in the segments holding it. 0, or -1
 * with errno (EOPNOTSUPP where the file system cannot punch holes). */
static int punch(struct spool *s, uint64_t a, uint64_t b)
{
	const uint64_t blk = PUNCH_BLOCK;
	for (size_t i = 0; i < s->nsegs; i++) {
		uint64_t lo = s->segs[i].start, hi = lo + s->segs[i].size;
		uint64_t x = a > lo ? a - lo : 0, y = (b < hi ? b : hi) - lo;
		if (b <= lo || a >= hi)
			continue;
		x = (x + blk - 1) / blk * blk;
		y = y / blk * blk;
		if (y > x && fallocate(s->segs[i].fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       (off_t)x, (off_t)(y - x)) < 0)
			return -1;
	}
	return 0;
}

/* The file system is full: drop the oldest frames not handed out until
 * the whole blocks they occupy add up to need, write the ack file (so
 * that no restart takes the holes for a torn tail or resends what was
 * dropped), sync it, and punch the holes. 1 room was made, 0 nothing is
 * left to drop, -1 an error (errno; EOPNOTSUPP: no holes here, segments
 * must go whole). Lock held. */
static int drop_to_punch(struct spool *s, uint64_t need)
{
	struct run todo[16];
	size_t n = 0;
	uint64_t freed = 0;
	while (freed < need && n < 16) {
		skip_gap(s);
		if (s->send >= s->wend)
			break;
		uint64_t from = s->send;
		if (drop_one(s) < 0)
			return -1;
		if (n && todo[n - 1].end == from) {
			freed -= whole_blocks(todo[n - 1].off, todo[n - 1].end);
			todo[n - 1].end = s->send;
		} else {
			todo[n++] = (struct run){ from, s->send };
		}
		freed += whole_blocks(todo[n - 1].off, todo[n - 1].end);
	}
	if (!n)
		return 0;
	if (write_ack(s) < 0 || fdatasync(s->ackfd) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (punch(s, todo[i].off, todo[i].end) < 0)
			return -1;
	return 1;
}

static uint64_t used(const struct spool *s)
{
	return s->pend - s->ack - s->done_bytes;
}

static bool stopping(struct spool *s)
{
	return s->aborted || sig_stop;
}

static int read_error(struct spool *s, char *err, size_t errlen)
{
	snprintf(err, errlen, "cannot read spool '%s': %s", s->dir ? s->dir : "(memory)",
		 strerror(errno));
	return -1;
}

/* Wait a little for the senders, letting the caller's idle hook run.
 * Lock held. */
static void wait_idle(struct spool *s, int ms)
{
	timed_wait(s, ms);
	if (s->idle) {
		pthread_mutex_unlock(&s->mu);
		s->idle(s->idle_arg);
		pthread_mutex_lock(&s->mu);
	}
}

/* Until a frame of flen bytes fits under --spool-max: wait for
 * acknowledgements, or with drop_oldest drop the oldest frames not
 * handed out. 0, 1 stopped, -1 error. Lock held. */
static int room_under_max(struct spool *s, uint64_t flen, bool force, char *err, size_t errlen)
{
	bool dropped = false;
	int rc = 0;
	for (;;) {
		if (s->aborted && !force) {
			rc = 1;
			break;
		}
		if (force || used(s) == 0 || used(s) + flen <= s->max)
			break;
		if (s->drop_oldest && s->send < s->wend) {
			if (drop_one(s) < 0) {
				rc = read_error(s, err, errlen);
				break;
			}
			dropped = true;
			continue;
		}
		if (sig_stop) {
			rc = 1;
			break;
		}
		if (s->pend > s->wend) {
			/* what waits for a sync must reach the senders, or
			 * nothing ever makes room */
			pthread_mutex_unlock(&s->mu);
			rc = spool_sync(s, err, errlen);
			pthread_mutex_lock(&s->mu);
			if (rc < 0)
				break;
			continue;
		}
		wait_idle(s, 100);
	}
	/* frames dropped behind one in flight are done only once the ack
	 * file says so */
	if (dropped && write_ack(s) < 0 && rc == 0) {
		snprintf(err, errlen, "cannot write '%s/ack': %s", s->dir, strerror(errno));
		rc = -1;
	}
	return rc;
}

/* Where holes cannot be punched, only a whole segment makes room: drop
 * the oldest frames not handed out up to the first segment that can go.
 * true when one went. Lock held. */
static int drop_to_boundary(struct spool *s, char *err, size_t errlen)
{
	uint64_t boundary = room_boundary(s);
	if (!boundary)
		return 0;
	/* a gap after it is skipped, not taken for the next frame */
	for (;;) {
		skip_gap(s);
		if (s->send >= boundary)
			break;
		if (drop_one(s) < 0)
			return read_error(s, err, errlen);
	}
	advance(s);
	cleanup(s);
	if (write_ack(s) < 0) {
		snprintf(err, errlen, "cannot write '%s/ack': %s", s->dir, strerror(errno));
		return -1;
	}
	return 1;
}

/* The file system is full. Segments delivered out of order go first.
 * With drop_oldest, the oldest frames not handed out are dropped and
 * their blocks punched out of their segment (or, where the file system
 * has no holes, dropped until a whole segment goes); otherwise, or when
 * nothing is left to drop, wait up to a second for acknowledgements.
 * 0 try again (in a new segment when *rotate), 1 stopped, -1 error. */
static int room_on_full_fs(struct spool *s, uint64_t flen, bool force, bool *warned, bool *rotate,
			   char *err, size_t errlen)
{
	/* what was written must reach the senders first */
	if (spool_sync(s, err, errlen) < 0)
		return -1;
	pthread_mutex_lock(&s->mu);
	if (!*warned)
		s->st.full_waits++;
	*warned = true;
	*rotate = false;
	size_t nsegs = s->nsegs;
	cleanup(s);
	int r = 0;
	if (s->nsegs == nsegs && s->drop_oldest && s->can_punch) {
		r = drop_to_punch(s, flen + PUNCH_BLOCK);
		if (r < 0 && errno == EOPNOTSUPP) {
			s->can_punch = false;
			r = 0;
		} else if (r < 0) {
			snprintf(err, errlen, "cannot make room in spool '%s': %s", s->dir,
				 strerror(errno));
		}
	}
	if (r == 0 && s->nsegs == nsegs && s->drop_oldest && !s->can_punch)
		r = drop_to_boundary(s, err, errlen);
	/* segments retired before (left to the syncer) free space too */
	if (r != 0 || s->nsegs < nsegs || s->ndead) {
		*rotate = s->nsegs < nsegs;
		unlock_reap(s); /* the space is free before the retry */
		return r < 0 ? -1 : 0;
	}
	if (force) {
		unlock_reap(s);
		snprintf(err, errlen, "spool '%s' is full: %s", s->dir ? s->dir : "(memory)",
			 strerror(ENOSPC));
		return -1;
	}
	uint64_t gen = s->ack_gen;
	for (int i = 0; i < 10 && gen == s->ack_gen && !stopping(s); i++)
		wait_idle(s, 100);
	bool stop = stopping(s);
	unlock_reap(s);
	/* a new segment, so that the acknowledged ones can go */
	*rotate = true;
	return stop ? 1 : 0;
}

/* Write one frame at off, starting a segment when the current one is
 * full or rotate asks, making room when the file system is full. 0, 1
 * stopped, -1 error. */
static int write_frame(struct spool *s, uint64_t off, const struct iovec iov[3], uint64_t flen, bool force,
		       char *err, size_t errlen)
{
	bool warned = false, rotate = false;
	pthread_mutex_lock(&s->mu);
	struct seg g = s->segs[s->nsegs - 1];
	pthread_mutex_unlock(&s->mu);
	for (;;) {
		uint64_t local = off - g.start;
		if (local > 0 && (rotate || local >= s->seg_size)) {
			/* frames waiting for a sync may span segments: a sync
			 * takes every segment from the one holding wend */
			if (seg_create(s, off, err, errlen) < 0) {
				if (errno != ENOSPC && errno != EDQUOT)
					return -1;
				goto full;
			}
			pthread_mutex_lock(&s->mu);
			g = s->segs[s->nsegs - 1];
			cleanup(s);
			unlock_defer(s);
			local = 0;
		}
		rotate = false;
		struct iovec left[3]; /* pwritev_all consumes its vector */
		memcpy(left, iov, sizeof left);
		if (pwritev_all(g.fd, left, 3, local) == 0)
			return 0;
		int e = errno;
		if (ftruncate(g.fd, (off_t)local) < 0) {
			/* a torn frame left behind is cut off by the next recovery */
		}
		if (e != ENOSPC && e != EDQUOT) {
			char path[4096];
			seg_path(s, g.start, path, sizeof path);
			snprintf(err, errlen, "cannot write '%s': %s", s->mem ? "(memory spool)" : path,
				 strerror(e));
			return -1;
		}
	full:;
		int r = room_on_full_fs(s, flen, force, &warned, &rotate, err, errlen);
		if (r != 0)
			return r;
		pthread_mutex_lock(&s->mu);
		g = s->segs[s->nsegs - 1];
		pthread_mutex_unlock(&s->mu);
	}
}

int spool_append(struct spool *s, const char *key, size_t keylen, const char *data,
		 size_t len, uint32_t nrec, bool force, char *err, size_t errlen)
{
	uint64_t flen = HDR_LEN + keylen + len;
	pthread_mutex_lock(&s->mu);
	int rc = room_under_max(s, flen, force, err, errlen);
	uint64_t off = s->pend;
	unlock_defer(s); /* drop-oldest may have emptied segments */
	if (rc != 0)
		return rc;

	struct hdr h = { nrec, (uint32_t)keylen, len, { 0 }, false };
	spool_batch_id(off, nrec, key, keylen, data, len, h.hash);
	unsigned char hb[HDR_LEN];
	encode_hdr(hb, &h);
	struct iovec iov[3] = {
		{ hb, HDR_LEN }, { (void *)key, keylen }, { (void *)data, len },
	};
	rc = write_frame(s, off, iov, flen, force, err, errlen);
	if (rc != 0)
		return rc;

	pthread_mutex_lock(&s->mu);
	ring_push(s, off, &h);
	s->pend = off + flen;
	s->segs[s->nsegs - 1].size = s->pend - s->segs[s->nsegs - 1].start;
	s->wrote_recs += nrec;
	s->wrote_batches++;
	uint64_t unsynced = s->pend - s->wend;
	int e = s->sync_errno;
	if (s->has_syncer && unsynced >= s->group && unsynced < 2 * s->group) {
		/* a group is full: the syncer takes it while we go on */
		s->want = s->pend;
		pthread_cond_signal(&s->sync_cond);
		unsynced = 0;
	}
	pthread_mutex_unlock(&s->mu);
	/* a failed background sync, or two groups waiting: sync here */
	if (e || unsynced >= s->group)
		return spool_sync(s, err, errlen);
	return 0;
}

/* The segments that hold frames not yet synced, with the lock held:
 * they are never deleted before they are synced (nothing in them was
 * handed out), so their descriptors stay valid unlocked. */
static size_t unsynced_segs(struct spool *s, int **fds, uint64_t **starts)
{
	size_t first = s->nsegs - 1;
	while (first > 0 && s->segs[first].start > s->wend)
		first--;
	size_t n = s->nsegs - first;
	*fds = xmalloc(n * sizeof **fds);
	*starts = xmalloc(n * sizeof **starts);
	for (size_t i = 0; i < n; i++) {
		(*fds)[i] = s->segs[first + i].fd;
		(*starts)[i] = s->segs[first + i].start;
	}
	return n;
}

/* One sync of everything written so far; lock held, !syncing. Publishes
 * what it synced to the senders. 0, or an errno with *bad the start of
 * the segment that failed. */
static int sync_locked(struct spool *s, uint64_t *bad)
{
	if (s->pend == s->wend)
		return 0;
	s->syncing = true;
	uint64_t target = s->pend, recs = s->wrote_recs, batches = s->wrote_batches;
	int *fds = NULL;
	uint64_t *starts = NULL;
	size_t n = s->mem ? 0 : unsynced_segs(s, &fds, &starts);
	bool dir = s->dir_dirty;
	s->dir_dirty = false;
	pthread_mutex_unlock(&s->mu);
	int e = 0;
	for (size_t i = 0; i < n && !e; i++) {
		if (fdatasync(fds[i]) < 0) {
			e = errno;
			*bad = starts[i];
		}
	}
	if (!e && dir && fs_fsync_dir(s->dir) < 0) {
		e = errno;
		*bad = starts[n - 1];
	}
	free(fds);
	free(starts);
	pthread_mutex_lock(&s->mu);
	s->syncing = false;
	if (e && dir)
		s->dir_dirty = true;
	if (!e && target > s->wend) {
		s->wend = target;
		s->backlog_recs += recs - s->synced_recs;
		s->st.appended_records += recs - s->synced_recs;
		s->st.appended_batches += batches - s->synced_batches;
		s->synced_recs = recs;
		s->synced_batches = batches;
	}
	pthread_cond_broadcast(&s->cond);
	pthread_cond_signal(&s->sync_cond); /* if it waited for this sync */
	return e;
}

static void *syncer(void *arg)
{
	struct spool *s = arg;
	pthread_mutex_lock(&s->mu);
	for (;;) {
		while (!s->syncer_stop && !s->ndead &&
		       (s->syncing || s->sync_errno || s->want <= s->wend))
			pthread_cond_wait(&s->sync_cond, &s->mu);
		if (s->syncer_stop)
			break;
		if (s->ndead) {
			unlock_reap(s);
			pthread_mutex_lock(&s->mu);
			continue;
		}
		uint64_t bad = 0;
		int e = sync_locked(s, &bad);
		if (e) {
			/* the reader reports it at its next append or sync */
			s->sync_errno = e;
			s->sync_err_seg = bad;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

int spool_sync(struct spool *s, char *err, size_t errlen)
{
	pthread_mutex_lock(&s->mu);
	while (s->syncing)
		pthread_cond_wait(&s->cond, &s->mu);
	uint64_t bad = s->sync_err_seg;
	int e = s->sync_errno;
	if (!e)
		e = sync_locked(s, &bad);
	/* a failed sync is retried by the next caller, never skipped */
	if (s->sync_errno)
		pthread_cond_signal(&s->sync_cond);
	s->sync_errno = 0;
	pthread_mutex_unlock(&s->mu);
	if (e) {
		char path[4096];
		seg_path(s, bad, path, sizeof path);
		snprintf(err, errlen, "cannot sync '%s': %s", path, strerror(e));
		return -1;
	}
	return 0;
}

void spool_close_input(struct spool *s)
{
	pthread_mutex_lock(&s->mu);
	s->input_closed = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

void spool_abort(struct spool *s)
{
	pthread_mutex_lock(&s->mu);
	s->aborted = true;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->mu);
}

bool spool_aborted(struct spool *s)
{
	pthread_mutex_lock(&s->mu);
	bool a = s->aborted;
	pthread_mutex_unlock(&s->mu);
	return a;
}

int spool_next(struct spool *s, struct spool_batch *b, char *err, size_t errlen)
{
	memset(b, 0, sizeof *b);
	pthread_mutex_lock(&s->mu);
	while (!s->aborted && s->send == s->wend) {
		if (s->input_closed) {
			pthread_mutex_unlock(&s->mu);
			return 0;
		}
		timed_wait(s, 200);
	}
	if (s->aborted) {
		pthread_mutex_unlock(&s->mu);
		return 0;
	}
	skip_gap(s);
	if (s->send == s->wend) {
		/* only a gap was left */
		advance(s);
		unlock_defer(s);
		return spool_next(s, b, err, errlen);
	}
	struct hdr h;
	struct seg *g = seg_find(s, s->send);
	if (!g || frame_at(s, s->send, &h) < 0) {
		snprintf(err, errlen, "cannot read spool '%s' at %" PRIu64 ": %s",
			 s->dir ? s->dir : "(memory)", s->send, g ? strerror(errno) : "no segment");
		pthread_mutex_unlock(&s->mu);
		return -1;
	}
	int fd = g->fd;
	uint64_t local = s->send - g->start;
	b->off = s->send;
	b->end = s->send + HDR_LEN + h.keylen + h.len;
	b->nrec = h.nrec;
	flight_push(s, b->off, b->end, h.nrec, false);
	s->send = b->end;
	pthread_mutex_unlock(&s->mu);

	/* the frame cannot go away while it is in flight: read it unlocked */
	hex_encode(h.hash, 16, b->id);
	b->keylen = h.keylen;
	b->len = (size_t)h.len;
	b->mem = xmalloc(b->keylen + b->len + 1);
	b->key = b->mem;
	b->data = (char *)b->mem + b->keylen;
	if (pread_all(fd, b->mem, b->keylen + b->len, local + HDR_LEN) < 0) {
		snprintf(err, errlen, "cannot read spool '%s' at %" PRIu64 ": %s",
			 s->dir ? s->dir : "(memory)", b->off, strerror(errno));
		return -1;
	}
	b->data[b->len] = 0;
	return 1;
}

int spool_done(struct spool *s, const struct spool_batch *b, char *err, size_t errlen)
{
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < s->nfl; i++) {
		if (s->fl[i].off == b->off && !s->fl[i].done) {
			s->fl[i].done = true;
			s->done_bytes += s->fl[i].end - s->fl[i].off;
			s->backlog_recs -= s->fl[i].nrec;
			break;
		}
	}
	int r = advance(s);
	int e = errno;
	unlock_defer(s);
	if (r < 0)
		snprintf(err, errlen, "cannot write '%s/ack': %s", s->dir, strerror(e));
	return r;
}

void spool_batch_free(struct spool_batch *b)
{
	free(b->mem);
	b->mem = b->key = b->data = NULL;
}

void spool_no_punch(struct spool *s)
{
	pthread_mutex_lock(&s->mu);
	s->can_punch = false;
	pthread_mutex_unlock(&s->mu);
}

void spool_stats(struct spool *s, struct spool_stats *st)
{
	pthread_mutex_lock(&s->mu);
	*st = s->st;
	st->records = s->backlog_recs;
	st->bytes = used(s);
	pthread_mutex_unlock(&s->mu);
}

bool spool_wait_empty(struct spool *s, int timeout_ms)
{
	pthread_mutex_lock(&s->mu);
	if (used(s) && timeout_ms > 0)
		timed_wait(s, timeout_ms);
	bool empty = used(s) == 0;
	pthread_mutex_unlock(&s->mu);
	return empty;
}

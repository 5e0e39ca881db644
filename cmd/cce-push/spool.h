/*
 * spool: the durable queue of batches between the reader and the senders.
 *
 * Promises:
 * - A batch is appended as one frame (header, placeholder values, records)
 *   to the current segment file. It is fdatasync'ed, and only then handed
 *   to senders. Once group bytes wait, spool_append hands them to a
 *   syncer thread and goes on writing the next group (with two groups
 *   waiting it syncs itself); group 0 syncs after every frame, in the
 *   caller. spool_sync syncs everything appended so far before it
 *   returns. A synced batch survives kill -9 and power loss; the caller
 *   syncs before it waits for input.
 * - Frames are numbered by their global byte position, which only grows
 *   across segments and restarts. A batch's id is a hash of its position,
 *   record count, placeholder values and records (XXH3-128; frames of
 *   older spools keep their SHA-256 ids): it is the same on every retry
 *   and after every restart, and two batches never share one.
 * - spool_next hands out each frame once, oldest first; spool_done
 *   acknowledges it. The acknowledged position (the start of the oldest
 *   frame not yet done) is written to the ack file after every
 *   acknowledgement, so a restart resends at most the frames that were in
 *   flight. Segments wholly before it are deleted.
 * - spool_open recovers: it checks every frame after the acknowledged
 *   position and cuts off a torn tail (a frame that was being written when
 *   the process died, never acknowledged to anyone).
 * - Without a directory (--no-spool) segments are memory files: the same
 *   behaviour, minus durability.
 * - Full (--spool-max, or the file system out of space): spool_append
 *   waits for acknowledgements, or with drop_oldest drops the oldest frames
 *   not yet handed out, counting them.
 * All functions are thread-safe. Errors are returned with a one-line
 * message in err; nothing here prints.
 */
#ifndef CCE_PUSH_SPOOL_H
#define CCE_PUSH_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_ID_LEN 32 /* hex characters of a batch id */

struct spool;

struct spool_opts {
	const char *dir;      /* NULL: in memory only */
	uint64_t max;         /* bytes of unacknowledged frames */
	bool drop_oldest;     /* when full: drop instead of waiting */
	uint64_t seg_size;    /* 0: derived from max */
	uint64_t group;       /* bytes of frames that may share one fsync */
	void (*idle)(void *); /* called now and then while waiting for room */
	void *idle_arg;
};

struct spool_batch {
	uint64_t off, end;    /* global position of the frame */
	uint32_t nrec;
	char id[SPOOL_ID_LEN + 1];
	char *key;            /* placeholder values, each NUL-terminated */
	size_t keylen;
	char *data;           /* the records, each ending in '\n' */
	size_t len;
	void *mem;            /* owned; spool_batch_free releases it */
};

struct spool_stats {
	uint64_t records, bytes;          /* unacknowledged */
	uint64_t dropped_records, dropped_batches;
	uint64_t appended_records, appended_batches;
	uint64_t full_waits;              /* times the file system was full */
};

struct spool *spool_open(const struct spool_opts *o, char *err, size_t errlen);
void spool_close(struct spool *s);

/* 0 appended (and synced, see above); 1 stopped while waiting for room (stop flag set
 * or spool_abort); -1 I/O error (err). force ignores --spool-max (used to
 * persist what is left when stopping). */
int spool_append(struct spool *s, const char *key, size_t keylen, const char *data,
		 size_t len, uint32_t nrec, bool force, char *err, size_t errlen);
/* fsync what was appended and hand it to the senders: 0, or -1 (err). */
int spool_sync(struct spool *s, char *err, size_t errlen);
/* No more appends: spool_next returns 0 once everything is handed out. */
void spool_close_input(struct spool *s);
/* Wake every waiter and make spool_next and spool_append give up. */
void spool_abort(struct spool *s);
bool spool_aborted(struct spool *s);

/* 1 a batch (free with spool_batch_free), 0 nothing more (input closed and
 * everything handed out, or aborted), -1 read error (err). */
int spool_next(struct spool *s, struct spool_batch *b, char *err, size_t errlen);
/* The batch was delivered or dead-lettered: acknowledge it. -1 when the
 * ack file could not be written (err); the batch will be sent again. */
int spool_done(struct spool *s, const struct spool_batch *b, char *err, size_t errlen);
void spool_batch_free(struct spool_batch *b);

void spool_stats(struct spool *s, struct spool_stats *st);
/* Wait until the spool holds nothing unacknowledged or timeout_ms passed;
 * true when empty. */
bool spool_wait_empty(struct spool *s, int timeout_ms);

/* From now on make room as where the file system cannot punch holes
 * (only whole segments free space): what the spool does by itself once
 * punching fails, and what the unit test of that case asks for. */
void spool_no_punch(struct spool *s);

/* The batch id of a frame: exposed for the unit test. */
void spool_batch_id(uint64_t off, uint32_t nrec, const char *key, size_t keylen,
		    const char *data, size_t len, unsigned char out[16]);

#endif

/*
 * fsutil: crash-safe files, appends, locks and $CCE_HOME.
 *
 * Promises: fs_replace leaves either the old or the new content at path,
 * never a torn file, even after kill -9 or power loss (temporary file in
 * the same directory, fsync, rename, fsync of the directory). fs_append
 * writes everything or fails, and fsyncs when asked. fs_lock takes an
 * exclusive flock and records the holder's pid in the lock file so that a
 * refused lock can say who holds it. Every failing call returns -1, keeps
 * errno, and (where it takes err) writes a one-line reason naming the file:
 * "cannot rename 'a.tmp' to 'a': No space left on device". Nothing prints.
 */
#ifndef CCE_FSUTIL_H
#define CCE_FSUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

int fs_replace(const char *path, const void *data, size_t len, mode_t mode,
	       char *err, size_t errlen);
/* fsync the directory holding path (or path itself when it is a directory) */
int fs_fsync_dir(const char *path);
/* mkdir -p with mode for every directory it creates */
int fs_mkdirs(const char *path, mode_t mode);
/* write all of p, retrying short writes and EINTR */
int fs_write_all(int fd, const void *p, size_t n);
/* open for appending (creating with mode), write, optionally fsync, close */
int fs_append(const char *path, const void *p, size_t n, mode_t mode, bool sync,
	      char *err, size_t errlen);
/* the whole file into out (appended); refuses files over max bytes */
int fs_read_file(const char *path, size_t max, struct buf *out, char *err, size_t errlen);

/* Exclusive lock on lockpath (created 0600). wait=false refuses at once
 * with "'PATH' is locked by pid N". Returns the fd to keep open, or -1. */
int fs_lock(const char *lockpath, bool wait, char *err, size_t errlen);
void fs_unlock(int fd);

/* $CCE_HOME, else $XDG_STATE_HOME/cce, else $HOME/.local/state/cce.
 * Does not create it. -1 when none can be found. */
int cce_home(char *out, size_t outlen);

#endif

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

/* $CCE_HOME, else $XDG_STATE_HOME/cce (when absolute), else
 * $HOME/.local/state/cce, found without touching the file system; -1
 * (ENOENT) when none can be found. */
int cce_home(char *out, size_t outlen);
/* cce_home made ready for use, the one rule of cce(7): a directory a
 * variable names (CCE_HOME, XDG_STATE_HOME) is used as is and, when
 * missing, created only if its parent exists, since a whole missing path
 * is likelier a typo than a wish; $HOME is never created; what the
 * default adds below them (cce, .local/state/cce) is created as needed.
 * Every directory made has mode 0700. -1 with errno and a reason in err
 * naming the directory: ENOENT "cannot find a state directory: set
 * CCE_HOME or HOME", ENOENT "cannot create CCE_HOME '/a/b': '/a' does not
 * exist", ENOTDIR "cannot use CCE_HOME '/f': Not a directory", or the
 * error of mkdir, "cannot create '/h/.local/state/cce': Permission denied". */
int cce_home_ready(char *out, size_t outlen, char *err, size_t errlen);

#endif

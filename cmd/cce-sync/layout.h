/*
 * layout: the files cce-sync keeps in a directory it applies streams to,
 * shared by unpack and the subcommands that only read or switch them
 * (releases.c: rollback and releases; verify.c).
 *
 * Promises: a release directory DIR holds releases/ID (one tree each, IDs
 * sort by age) and current, a symlink "releases/ID" that only ever changes
 * by renaming a new symlink over it, followed by an fsync of DIR. Runs
 * that change DIR hold an flock on DIR itself. Nothing here prints except
 * the cmd_ functions, through diag and out.
 */
#ifndef CCE_SYNC_LAYOUT_H
#define CCE_SYNC_LAYOUT_H

#include <stddef.h>

#define STAGE_PREFIX ".cce-sync.stage."
#define CURRENT_TMP ".cce-sync.current.tmp"
#define MANIFESTS ".cce-sync.manifests"
#define LAST_MANIFEST ".cce-sync.manifest.jsonl"
#define PENDING ".cce-sync.pending"

/* Removes name under dfd, recursively, never following symlinks. */
int rm_tree_at(int dfd, const char *name);
/* The ID current points to (caller frees); NULL with err empty when there
 * is no current, NULL with err filled when current is not a release. */
char *current_release(int dirfd, char *err, size_t errlen);
/* Release IDs, sorted; free with free_list. */
char **list_releases(int dirfd, size_t *n);
void free_list(char **v, size_t n);
/* current -> releases/id, atomically, then fsync DIR. */
int flip(int dirfd, const char *id, char *err, size_t errlen);
/* Creates and opens dir and locks it; 0, or the exit code with err filled
 * (75 when another run holds the lock). */
int lock_dir(const char *dir, int *dirfd, char *err, size_t errlen);

#endif

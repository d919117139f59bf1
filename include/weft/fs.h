/* weft: file system calls off the workers (aiofiles.os, or to_thread).
 *
 * A regular file or a directory has no readiness to wait for, so each
 * call runs its system call on the runtime's blocking pool, as a slow job
 * (a stalled disk cannot take every thread), and suspends the calling
 * task meanwhile. Each takes a timeout and honours cancellation and
 * deadline scopes: the call returns at once, and a system call already
 * running finishes on its thread, where weft frees what it made.
 */
#ifndef WEFT_FS_H
#define WEFT_FS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* stat(2) of path into *st. Returns 0, stat's error (-ENOENT, -EACCES,
 * -ENOTDIR, ...), -EINVAL, -EPERM (not in a task), -ECANCELED,
 * -ETIMEDOUT or -ENOMEM. */
WEFT_EXPORT int weft_fs_stat(const char *path, struct stat *st,
                             int64_t timeout_ms);

/* rename(2) from to to. Returns as weft_fs_stat. */
WEFT_EXPORT int weft_fs_rename(const char *from, const char *to,
                               int64_t timeout_ms);

/* unlink(2) of path. Returns as weft_fs_stat. */
WEFT_EXPORT int weft_fs_unlink(const char *path, int64_t timeout_ms);

/* The names in directory path, "." and ".." left out, sorted (strcmp):
 * *names gets a NULL-terminated array in one allocation that
 * weft_free() frees, *count its length. Returns as weft_fs_stat. */
WEFT_EXPORT int weft_fs_list_dir(const char *path, char ***names,
                                 size_t *count, int64_t timeout_ms);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_FS_H */

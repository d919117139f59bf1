/* File system calls on the blocking pool (weft/fs.h): what streams need. */
#ifndef WEFT_IO_FS_H
#define WEFT_IO_FS_H

#include <stdint.h>
#include <sys/types.h>

/* open(2) of path with flags | O_CLOEXEC and mode, on the pool, for at
 * most timeout_ms. Returns the descriptor, or a negative errno: open's,
 * -ETIMEDOUT, -ECANCELED (a descriptor opened after that is closed),
 * -EINVAL, -EPERM (not in a task), -ENOMEM. */
int weft__fs_open(const char *path, int flags, mode_t mode, int64_t timeout_ms);

/* close(2) of fd on the pool, for a task (a close may flush to a slow
 * disk); anywhere else, and if the task is interrupted first, at once.
 * fd is closed in every case. Returns 0 or close's error. */
int weft__fs_close(int fd);

#endif /* WEFT_IO_FS_H */

/* weft: waiting in a task for any non-blocking descriptor.
 *
 * For descriptors weft does not wrap (a database driver's socket, a
 * pipe, an inotify or timer fd): try the call, and when it fails with
 * EAGAIN, weft_fd_wait until the descriptor is ready. The first wait
 * registers the descriptor with one worker's event loop, for good;
 * call weft_fd_forget before closing it.
 */
#ifndef WEFT_FD_H
#define WEFT_FD_H

#include <poll.h>
#include <stdint.h>

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Waits until fd is ready for events (POLLIN, POLLOUT or both), at most
 * timeout_ms (WEFT_FOREVER, 0 or more). Returns the ready events, as
 * poll(2)'s revents (POLLIN, POLLOUT, POLLHUP, POLLERR, and POLLRDHUP
 * when POLLIN was asked: never 0), or -ETIMEDOUT, -ECANCELED, -EBADF (fd
 * is not open, or weft_fd_forget ran meanwhile), -EPERM (not in a task,
 * or a descriptor epoll cannot watch: a regular file is always ready,
 * so it is returned at once instead), -EBUSY (another task waits on fd
 * for the same event), -EINVAL (fd < 0, events with other bits or none,
 * a bad timeout), -ENOTSUP (fd >= 2^20), -ENOMEM. */
WEFT_EXPORT int weft_fd_wait(int fd, short events, int64_t timeout_ms);

/* Drops what weft holds for fd: call it before close(fd). A task still
 * waiting on fd gets -EBADF. Returns 0, -EINVAL (fd < 0) or -EPERM (not
 * in a task). */
WEFT_EXPORT int weft_fd_forget(int fd);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_FD_H */

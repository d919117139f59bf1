/* weft: error codes.
 *
 * Every fallible weft call returns 0 or a negative errno value. WEFT_EXXX is
 * -EXXX on this platform, so both spellings compare equal. errno itself is
 * never used to report an error: it does not survive a task switch.
 *
 * WEFT_ERRNO_MAP is the one table that weft_strerror() and weft_err_name()
 * are generated from.
 */
#ifndef WEFT_ERRNO_H
#define WEFT_ERRNO_H

#include <errno.h>

#include "common.h"

#define WEFT_ERRNO_MAP(XX)                                                    \
    XX(EPERM, "operation not permitted")                                      \
    XX(ENOENT, "no such file or directory")                                   \
    XX(ESRCH, "no such process")                                              \
    XX(EINTR, "interrupted system call")                                      \
    XX(EIO, "i/o error")                                                      \
    XX(ENXIO, "no such host or service")                                      \
    XX(ECHILD, "no child processes")                                          \
    XX(EBADF, "bad file descriptor")                                          \
    XX(EAGAIN, "resource temporarily unavailable")                            \
    XX(ENOMEM, "not enough memory")                                           \
    XX(EACCES, "permission denied")                                           \
    XX(EFAULT, "bad address")                                                 \
    XX(EBUSY, "resource busy")                                                \
    XX(EEXIST, "already exists")                                              \
    XX(EINVAL, "invalid argument")                                            \
    XX(ENFILE, "too many open files in system")                               \
    XX(EMFILE, "too many open files")                                         \
    XX(ENOSPC, "no space left on device")                                     \
    XX(EPIPE, "broken pipe")                                                  \
    XX(ERANGE, "result out of range")                                         \
    XX(EDEADLK, "operation would deadlock")                                   \
    XX(ENAMETOOLONG, "name too long")                                         \
    XX(ENOSYS, "function not implemented")                                    \
    XX(EOVERFLOW, "value too large")                                          \
    XX(EMSGSIZE, "message too long")                                          \
    XX(ENODATA, "no more data")                                               \
    XX(ENOTSOCK, "not a socket")                                              \
    XX(ENOTSUP, "operation not supported")                                    \
    XX(EAFNOSUPPORT, "address family not supported")                          \
    XX(EADDRINUSE, "address already in use")                                  \
    XX(EADDRNOTAVAIL, "address not available")                                \
    XX(ENETUNREACH, "network is unreachable")                                 \
    XX(ECONNABORTED, "connection aborted")                                    \
    XX(ECONNRESET, "connection reset by peer")                                \
    XX(ENOBUFS, "no buffer space available")                                  \
    XX(EISCONN, "socket is already connected")                                \
    XX(ENOTCONN, "socket is not connected")                                   \
    XX(ESHUTDOWN, "shut down")                                                \
    XX(ETIMEDOUT, "timed out")                                                \
    XX(ECONNREFUSED, "connection refused")                                    \
    XX(EHOSTUNREACH, "host is unreachable")                                   \
    XX(EALREADY, "already done")                                              \
    XX(EINPROGRESS, "operation in progress")                                  \
    XX(ECANCELED, "operation canceled")

#ifdef __cplusplus
extern "C" {
#endif

enum weft_errno {
#define WEFT__ERRNO_ENUM(name, msg) WEFT_##name = -name,
    WEFT_ERRNO_MAP(WEFT__ERRNO_ENUM)
#undef WEFT__ERRNO_ENUM
};

/* A short English description of err (a negative error code, or 0).
 * Never NULL; unknown codes give "unknown error". */
WEFT_EXPORT const char *weft_strerror(int err);

/* The symbolic name of err without its minus sign ("EINVAL"), "OK" for 0,
 * "UNKNOWN" for codes outside the table. Never NULL. */
WEFT_EXPORT const char *weft_err_name(int err);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_ERRNO_H */

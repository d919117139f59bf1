/* weft: child processes, asyncio's create_subprocess_exec.
 *
 * A child is started with posix_spawn (never fork: the parent has
 * threads, and fork copies its page tables), from an argument vector
 * whose first word is looked up in PATH as execvp does. Its standard
 * input, output and error are inherited, pipes read and written as weft
 * streams, a descriptor of the caller's, or /dev/null; its error can go
 * into its output. It starts with every signal at its default action and
 * none blocked (weft_run ignores SIGPIPE in the parent), and inherits no
 * descriptor of weft's.
 *
 * Its end is waited for through a pidfd, so weft installs no SIGCHLD
 * handler and never calls waitpid(-1): a program that does (or sets
 * SIGCHLD to SIG_IGN) reaps weft's children behind its back, and their
 * waits fail with -ECHILD.
 *
 * The exit status is asyncio's returncode: the exit code (0..255) of a
 * child that exited, or minus the number of the signal that killed it.
 * This header is not weft_process_* (weft/process.h), the process pool
 * that runs C functions of the program itself.
 */
#ifndef WEFT_SUBPROCESS_H
#define WEFT_SUBPROCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common.h"
#include "stream.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct weft_subprocess weft_subprocess;

/* What one of the child's standard descriptors is. */
typedef enum weft_stdio_mode {
    WEFT_STDIO_INHERIT = 0, /* the caller's own (the default) */
    WEFT_STDIO_PIPE,        /* a pipe, the caller's end a weft_stream */
    WEFT_STDIO_DEVNULL,     /* /dev/null */
    WEFT_STDIO_FD,          /* a descriptor of the caller's (duplicated
                               into the child; it stays the caller's) */
    WEFT_STDIO_STDOUT       /* stderr only: wherever stdout goes */
} weft_stdio_mode;

/* Zero fields take the defaults. */
typedef struct weft_subprocess_opts {
    char *const *envp;        /* the child's environment, NULL-terminated;
                                 NULL: the caller's (environ). PATH is
                                 searched in the caller's */
    const char *cwd;          /* the child's working directory; NULL: the
                                 caller's */
    weft_stdio_mode stdin_mode, stdout_mode, stderr_mode;
    int stdin_fd, stdout_fd, stderr_fd; /* for WEFT_STDIO_FD */
    const weft_stream_opts *stream;     /* the pipes' streams' options */
    void *reserved[4];        /* must be zero */
} weft_subprocess_opts;

/* Starts argv[0] (looked up in PATH unless it has a slash) with the
 * arguments argv (NULL-terminated) and the options opts (NULL: inherit
 * everything). Returns 0 with *proc set, or -EINVAL (argv NULL or empty,
 * a bad mode or descriptor, reserved fields not zero), -EPERM (not in a
 * task), -ENOENT (no such program, or no such cwd), -EACCES (not
 * executable), -ENOEXEC, -ENOTDIR, -EBADF (a WEFT_STDIO_FD descriptor
 * that is not open), -EMFILE, -ENFILE, -ENOMEM, -EAGAIN, -ECHILD (the
 * child was reaped by someone else before weft could watch it), -ENOTSUP
 * (cwd, without posix_spawn_file_actions_addchdir_np). Not a checkpoint. */
WEFT_EXPORT int weft_subprocess_exec(weft_subprocess **proc,
                                     char *const argv[],
                                     const weft_subprocess_opts *opts);

/* The caller's end of the child's stdin, stdout or stderr pipe, or NULL
 * (not a pipe, or proc is not valid). The streams belong to proc:
 * weft_subprocess_close closes them; do not. weft_stream_write_eof on
 * stdin gives the child its end of input. */
WEFT_EXPORT weft_stream *weft_subprocess_stdin(weft_subprocess *proc);
WEFT_EXPORT weft_stream *weft_subprocess_stdout(weft_subprocess *proc);
WEFT_EXPORT weft_stream *weft_subprocess_stderr(weft_subprocess *proc);

/* The child's process id, or -EINVAL. */
WEFT_EXPORT pid_t weft_subprocess_pid(const weft_subprocess *proc);

/* Waits until the child has ended, at most timeout_ms, and reaps it.
 * Returns 0 with its status in *status (if not NULL): the exit code, or
 * minus the signal that killed it. Once reaped, every wait gives the
 * same status. Several tasks may wait at once. Returns -ETIMEDOUT,
 * -ECANCELED (the child is left running, and can be waited for again),
 * -EBADF (proc was closed meanwhile), -ECHILD (reaped by someone else),
 * -EINVAL, -EPERM. */
WEFT_EXPORT int weft_subprocess_wait(weft_subprocess *proc, int *status,
                                     int64_t timeout_ms);

/* Sends the child signal sig (0 sends none, as kill(2)). A child that
 * has been reaped is not signalled: 0, as Python's send_signal. Returns
 * 0, -EINVAL (a bad signal number), -EPERM. Not a checkpoint; any
 * thread. */
WEFT_EXPORT int weft_subprocess_signal(weft_subprocess *proc, int sig);

/* Ends the child: SIGTERM, then up to grace_ms for it to end, then
 * SIGKILL, and reaps it (its status: weft_subprocess_wait). Returns 0
 * once it is reaped (at once if it was), or -ECANCELED, -ETIMEDOUT (a
 * deadline of a scope), -EBADF, -ECHILD, -EINVAL, -EPERM. */
WEFT_EXPORT int weft_subprocess_terminate(weft_subprocess *proc,
                                          int64_t grace_ms);

/* asyncio's communicate(): writes in[0, in_len) to the child's stdin
 * and then closes it, reads its stdout and stderr to their ends, at the
 * same time (no pipe can fill up and stall the child), and waits for it
 * to exit; all within timeout_ms. *out and *err (either may be NULL, with
 * its length; a stream that is not a pipe gives NULL, 0) get the bytes
 * read, in buffers to free with weft_free (NUL-terminated). A child that
 * closes its stdin early is not an error. Returns 0, or -EINVAL (input
 * without a stdin pipe, a bad timeout), -ETIMEDOUT, -ECANCELED (nothing
 * is returned then; the child is left running, and output not yet read
 * stays in the streams), -EBUSY (another task reads or writes one of the
 * streams), -ENOMEM, -EBADF, -EPERM, and the errors of
 * weft_subprocess_wait. */
WEFT_EXPORT int weft_subprocess_communicate(weft_subprocess *proc,
                                            const void *in, size_t in_len,
                                            void **out, size_t *out_len,
                                            void **err, size_t *err_len,
                                            int64_t timeout_ms);

/* Closes the streams (unsent input is dropped), ends the waits of other
 * tasks with -EBADF, and frees proc. A child that has not been reaped is
 * not killed (asyncio leaves it too): weft reaps it when it ends, at the
 * next weft_subprocess_exec or _close after that, or when weft_run
 * returns; one still running then is left running, unreaped. To end it
 * first: weft_subprocess_terminate. Returns 0, -EINVAL or -EPERM (not in
 * a task). Shielded: not a checkpoint. */
WEFT_EXPORT int weft_subprocess_close(weft_subprocess *proc);

#ifdef __cplusplus
}
#endif

#endif /* WEFT_SUBPROCESS_H */

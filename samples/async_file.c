/* async_file: seed 002 Q9, an `AsyncFile` async context manager.
 *
 *     class AsyncFile:
 *         async def __aenter__(self):
 *             self.f = await asyncio.to_thread(open, self.path, "w")
 *             return self
 *         async def write(self, data):
 *             await asyncio.to_thread(self.f.write, data)
 *         async def __aexit__(self, *exc):
 *             await asyncio.to_thread(self.f.close)
 *
 *     async with AsyncFile(path) as f:
 *         await f.write(...)
 *
 * File system calls block (there is no readiness to wait for on a regular
 * file), so every open, write, fsync and close here runs on the blocking
 * pool through weft_to_thread, and the tasks writing their files at once
 * never hold up their worker. ASYNC_FILE_WITH plays `async with`: the
 * file is closed on every way out of the block, an error included. At the
 * end every file is read back and checked, then removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

#define WRITERS 8
#define LINES 50

/* --- the async file -------------------------------------------------------------- */

struct async_file {
    char path[256];
    int fd;
};

/* One blocking operation, with its arguments and outcome. */
struct file_op {
    struct async_file *f;
    const void *data;
    size_t len;
};

static void *do_open(void *arg)
{
    struct async_file *f = arg;
    f->fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    return f->fd >= 0 ? NULL : weft_fail(-errno, "open %s", f->path);
}

static void *do_write(void *arg)
{
    struct file_op *op = arg;
    const char *p = op->data;
    size_t left = op->len;
    while (left > 0) {
        ssize_t n = write(op->f->fd, p, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return weft_fail(-errno, "write");
        p += n;
        left -= (size_t)n;
    }
    return NULL;
}

static void *do_close(void *arg)
{
    struct async_file *f = arg;
    int rc = fsync(f->fd) < 0 ? -errno : 0;
    if (close(f->fd) < 0 && rc == 0)
        rc = -errno;
    f->fd = -1;
    return rc < 0 ? weft_fail(rc, "close") : NULL;
}

/* __aenter__, write, __aexit__. The struct lives on the caller's stack,
 * which is safe because these calls are shielded: a cancelled task still
 * waits for its file operation to finish, so the operation never outlives
 * the struct. */
static int async_file_open(struct async_file *f, const char *path)
{
    weft_scope shield;
    snprintf(f->path, sizeof f->path, "%s", path);
    f->fd = -1;
    weft_shield_enter(&shield);
    int rc = weft_to_thread(do_open, f, NULL);
    weft_scope_leave(&shield);
    return rc;
}

static int async_file_write(struct async_file *f, const void *data,
                            size_t len)
{
    struct file_op op = { f, data, len };
    weft_scope shield;
    weft_shield_enter(&shield);
    int rc = weft_to_thread(do_write, &op, NULL);
    weft_scope_leave(&shield);
    return rc;
}

static int async_file_close(struct async_file *f)
{
    weft_scope shield;
    if (f->fd < 0)
        return 0;
    weft_shield_enter(&shield);
    int rc = weft_to_thread(do_close, f, NULL);
    weft_scope_leave(&shield);
    return rc;
}

static void async_file_cleanup(struct async_file *f)
{
    (void)async_file_close(f);
}

/* async with AsyncFile(path) as f: the block runs if the open worked, and
 * the file is closed however the block is left. rc gets open's result. */
#define ASYNC_FILE_WITH(f, path, rc)                                          \
    for (struct async_file f __attribute__((cleanup(async_file_cleanup))) =   \
             { .fd = -1 },                                                    \
         *f##_once = ((rc) = async_file_open(&f, (path))) == 0 ? &f : NULL;   \
         f##_once != NULL; f##_once = NULL)

/* --- the program --------------------------------------------------------------------- */

struct writer {
    char path[256];
    int id;
    int rc;
};

static void *write_file(void *arg)
{
    struct writer *w = arg;
    int rc;

    ASYNC_FILE_WITH(f, w->path, rc) {
        for (int i = 0; i < LINES && rc == 0; i++) {
            char line[64];
            int n = snprintf(line, sizeof line, "writer %d line %d\n", w->id, i);
            rc = async_file_write(&f, line, (size_t)n);
        }
        if (rc == 0)
            rc = async_file_close(&f); /* report close's error too */
    }
    w->rc = rc;
    return rc < 0 ? weft_fail(rc, "%s", w->path) : NULL;
}

/* Reads a file back (plainly: the tasks are done) and compares. */
static int check_file(const struct writer *w)
{
    char expect[LINES * 64], got[LINES * 64 + 1];
    size_t len = 0;
    FILE *fp;

    for (int i = 0; i < LINES; i++)
        len += (size_t)snprintf(expect + len, sizeof expect - len,
                                "writer %d line %d\n", w->id, i);
    fp = fopen(w->path, "r");
    if (fp == NULL)
        return -1;
    size_t n = fread(got, 1, sizeof got - 1, fp);
    fclose(fp);
    return n == len && memcmp(got, expect, len) == 0 ? 0 : -1;
}

static void *amain(void *arg)
{
    struct writer *w = arg;
    weft_task *tasks[WRITERS];
    weft_outcome out[WRITERS];
    int rc;

    for (int i = 0; i < WRITERS; i++) {
        rc = weft_spawn(&tasks[i], write_file, &w[i]);
        if (rc < 0)
            return weft_fail(rc, "spawn");
    }
    rc = weft_gather(tasks, WRITERS, WEFT_GATHER_COLLECT, out);
    for (int i = 0; i < WRITERS; i++) {
        weft_task_unref(tasks[i]);
        if (rc == 0 && out[i].err < 0)
            rc = out[i].err;
    }
    return rc < 0 ? weft_fail(rc, "a writer failed") : NULL;
}

int main(void)
{
    char dir[] = "/tmp/weft-async-file-XXXXXX";
    struct writer w[WRITERS];
    int rc, bad = 0;

    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    for (int i = 0; i < WRITERS; i++) {
        w[i] = (struct writer){ .id = i };
        snprintf(w[i].path, sizeof w[i].path, "%s/out-%d.txt", dir, i);
    }
    rc = weft_run(amain, w, NULL, NULL);
    for (int i = 0; i < WRITERS; i++) {
        if (rc == 0 && check_file(&w[i]) < 0) {
            fprintf(stderr, "async_file: %s is not what was written\n",
                    w[i].path);
            bad = 1;
        }
        /* A writer that failed to open may have left no file. */
        if (unlink(w[i].path) < 0 && (rc == 0 || errno != ENOENT)) {
            perror(w[i].path);
            bad = 1;
        }
    }
    if (rmdir(dir) < 0) {
        perror(dir);
        bad = 1;
    }
    if (rc < 0)
        fprintf(stderr, "async_file: %s\n", weft_strerror(rc));
    else if (!bad)
        printf("%d tasks each wrote %d lines to its own file in %s,\n"
               "with open, write, fsync and close through weft_to_thread;\n"
               "every file read back intact, then removed with the "
               "directory\n", WRITERS, LINES, dir);
    return rc == 0 && !bad ? 0 : 1;
}

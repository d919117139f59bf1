/* shell_pipeline: `printf ... | sort`, two children joined by a pipe, the
 * second one's output read through a weft stream.
 *
 *     r, w = os.pipe()
 *     a = await asyncio.create_subprocess_exec("printf", text, stdout=w)
 *     b = await asyncio.create_subprocess_exec("sort", stdin=r,
 *                                              stdout=PIPE)
 *     os.close(r); os.close(w)
 *     out, _ = await b.communicate()
 *     await a.wait()
 *
 * The pipe between the two is the kernel's, as in a shell: the bytes never
 * pass through this program. Each child gets its end with
 * WEFT_STDIO_FD; the parent closes both ends once both children hold
 * theirs, so that sort sees the end of its input when printf exits.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <weft.h>

static void *amain(void *arg)
{
    char *producer[] = { "printf", "cherry\\napple\\nbanana\\n", NULL };
    char *sorter[] = { "sort", NULL };
    weft_subprocess *a = NULL, *b = NULL;
    int p[2], rc, status_a = -1, status_b = -1;
    void *out = NULL;
    size_t out_len = 0;

    (void)arg;
    if (pipe2(p, O_CLOEXEC) < 0)
        return weft_fail(WEFT_EIO, "pipe failed");
    weft_subprocess_opts oa = { .stdout_mode = WEFT_STDIO_FD, .stdout_fd = p[1] };
    weft_subprocess_opts ob = { .stdin_mode = WEFT_STDIO_FD, .stdin_fd = p[0],
                                .stdout_mode = WEFT_STDIO_PIPE };
    rc = weft_subprocess_exec(&a, producer, &oa);
    if (rc == 0)
        rc = weft_subprocess_exec(&b, sorter, &ob);
    close(p[0]); /* the children have their copies */
    close(p[1]);
    if (rc == 0)
        rc = weft_subprocess_communicate(b, NULL, 0, &out, &out_len, NULL,
                                         NULL, 5000);
    if (rc == 0)
        rc = weft_subprocess_wait(b, &status_b, 5000);
    if (rc == 0)
        rc = weft_subprocess_wait(a, &status_a, 5000);
    if (rc == 0) {
        printf("printf | sort gave:\n%.*s", (int)out_len, (char *)out);
        printf("exit statuses: printf %d, sort %d\n", status_a, status_b);
        const char *want = "apple\nbanana\ncherry\n";
        if (out_len != strlen(want) || memcmp(out, want, out_len) != 0 ||
            status_a != 0 || status_b != 0)
            rc = WEFT_EIO;
    }
    weft_free(out);
    if (a != NULL)
        weft_subprocess_close(a);
    if (b != NULL)
        weft_subprocess_close(b);
    return rc == 0 ? NULL : weft_fail(rc, "pipeline: %s", weft_strerror(rc));
}

int main(void)
{
    int rc = weft_run(amain, NULL, NULL, NULL);
    if (rc != 0)
        fprintf(stderr, "shell_pipeline: %s\n", weft_strerror(rc));
    return rc == 0 ? 0 : 1;
}

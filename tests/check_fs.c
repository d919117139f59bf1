/* File system calls off the workers: stat, rename, unlink and a directory
 * listing, their errors, bad input, and cancellation and deadlines. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "testutil.h"

static char dir[64];

static void make_file(const char *name, const char *text)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

static void *calls_main(void *arg)
{
    char a[128], b[128], sub[128];
    struct stat st;
    char **names;
    size_t n;

    (void)arg;
    make_file("b.txt", "twelve bytes");
    make_file("a.txt", "");
    snprintf(sub, sizeof sub, "%s/c-dir", dir);
    ck_assert_int_eq(mkdir(sub, 0700), 0);
    snprintf(a, sizeof a, "%s/b.txt", dir);
    ck_assert_int_eq(weft_fs_stat(a, &st, WEFT_FOREVER), 0);
    ck_assert_int_eq(st.st_size, 12);
    ck_assert(S_ISREG(st.st_mode));
    ck_assert_int_eq(weft_fs_stat(sub, &st, 5000), 0);
    ck_assert(S_ISDIR(st.st_mode));
    /* The listing: sorted, without . and .. */
    ck_assert_int_eq(weft_fs_list_dir(dir, &names, &n, WEFT_FOREVER), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(names[0], "a.txt");
    ck_assert_str_eq(names[1], "b.txt");
    ck_assert_str_eq(names[2], "c-dir");
    ck_assert_ptr_null(names[3]);
    weft_free(names);
    ck_assert_int_eq(weft_fs_list_dir(sub, &names, &n, WEFT_FOREVER), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_ptr_null(names[0]);
    weft_free(names);
    /* Rename, then unlink. */
    snprintf(b, sizeof b, "%s/renamed.txt", dir);
    ck_assert_int_eq(weft_fs_rename(a, b, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_fs_stat(a, &st, WEFT_FOREVER), -ENOENT);
    ck_assert_int_eq(weft_fs_stat(b, &st, WEFT_FOREVER), 0);
    ck_assert_int_eq(st.st_size, 12);
    ck_assert_int_eq(weft_fs_unlink(b, WEFT_FOREVER), 0);
    ck_assert_int_eq(weft_fs_unlink(b, WEFT_FOREVER), -ENOENT);
    /* The system calls' errors. */
    ck_assert_int_eq(weft_fs_list_dir(b, &names, &n, WEFT_FOREVER), -ENOENT);
    ck_assert_ptr_null(names);
    snprintf(a, sizeof a, "%s/a.txt", dir);
    ck_assert_int_eq(weft_fs_list_dir(a, &names, &n, WEFT_FOREVER), -ENOTDIR);
    ck_assert_int_eq(weft_fs_unlink(sub, WEFT_FOREVER), -EISDIR);
    ck_assert_int_eq(weft_fs_rename(b, a, WEFT_FOREVER), -ENOENT);
    /* Clean up. */
    ck_assert_int_eq(weft_fs_unlink(a, WEFT_FOREVER), 0);
    ck_assert_int_eq(rmdir(sub), 0);
    return NULL;
}

START_TEST(test_calls)
{
    snprintf(dir, sizeof dir, "/tmp/weft-check-fs-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(run_on(2, calls_main, NULL), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Many listings at once, on four workers, each of its own directory. */
#define LISTERS 32
#define FILES 40

static void *lister(void *arg)
{
    char **names;
    size_t n;
    int rc = weft_fs_list_dir(arg, &names, &n, WEFT_FOREVER);

    if (rc == 0) {
        CHECK(n == FILES);
        for (size_t i = 1; i < n; i++)
            CHECK(strcmp(names[i - 1], names[i]) < 0);
        weft_free(names);
    }
    return (void *)(intptr_t)rc;
}

static void *concurrent_main(void *arg)
{
    weft_task *t[LISTERS];

    (void)arg;
    for (int i = 0; i < LISTERS; i++)
        ck_assert_int_eq(weft_spawn(&t[i], lister, dir), 0);
    for (int i = 0; i < LISTERS; i++) {
        void *res;
        ck_assert_int_eq(weft_await(t[i], &res), 0);
        ck_assert_int_eq((int)(intptr_t)res, 0);
        weft_task_unref(t[i]);
    }
    return NULL;
}

START_TEST(test_concurrent_listings)
{
    char name[32];

    snprintf(dir, sizeof dir, "/tmp/weft-check-fs-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    for (int i = 0; i < FILES; i++) {
        snprintf(name, sizeof name, "f%03d", i);
        make_file(name, "x");
    }
    ck_assert_int_eq(run_on(4, concurrent_main, NULL), 0);
    for (int i = 0; i < FILES; i++) {
        char path[128];
        snprintf(path, sizeof path, "%s/f%03d", dir, i);
        ck_assert_int_eq(unlink(path), 0);
    }
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* Cancelled, timed out, or under an expired scope: the call returns at
 * once, and a listing already running is freed by weft when it ends
 * (the leak checks of run_on and the sanitizers see to that). */
static void *interrupted_main(void *arg)
{
    struct stat st;
    char **names = (char **)&names;
    size_t n = 7;
    int rc;

    (void)arg;
    ck_assert_int_eq(weft_fs_stat("/", &st, 0), -ETIMEDOUT);
    WEFT_WITH_TIMEOUT(0, rc) {
        rc = weft_fs_list_dir("/", &names, &n, WEFT_FOREVER);
    }
    ck_assert_int_eq(rc, -ETIMEDOUT);
    ck_assert_ptr_null(names);
    ck_assert_uint_eq(n, 0);
    /* Cancelled before the call: refused at once. */
    ck_assert_int_eq(weft_cancel(weft_current()), 0);
    ck_assert_int_eq(weft_fs_list_dir("/", &names, &n, WEFT_FOREVER),
                     -ECANCELED);
    ck_assert_int_eq(weft_task_uncancel(weft_current()), 0);
    /* Listings given up while they may run: /usr/bin is large. */
    for (int i = 0; i < 20; i++) {
        rc = weft_fs_list_dir("/usr/bin", &names, &n, 1);
        ck_assert(rc == 0 || rc == -ETIMEDOUT);
        if (rc == 0)
            weft_free(names);
    }
    return NULL;
}

START_TEST(test_interrupted)
{
    ck_assert_int_eq(run_on(2, interrupted_main, NULL), 0);
}
END_TEST

static void *bad_args_main(void *arg)
{
    struct stat st;
    char **names;
    size_t n;

    (void)arg;
    ck_assert_int_eq(weft_fs_stat(NULL, &st, 0), -EINVAL);
    ck_assert_int_eq(weft_fs_stat("/", NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_fs_stat("/", &st, -5), -EINVAL);
    ck_assert_int_eq(weft_fs_rename(NULL, "/x", 0), -EINVAL);
    ck_assert_int_eq(weft_fs_rename("/x", NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_fs_unlink(NULL, 0), -EINVAL);
    ck_assert_int_eq(weft_fs_list_dir(NULL, &names, &n, 0), -EINVAL);
    ck_assert_int_eq(weft_fs_list_dir("/", NULL, &n, 0), -EINVAL);
    ck_assert_int_eq(weft_fs_list_dir("/", &names, NULL, 0), -EINVAL);
    return NULL;
}

START_TEST(test_bad_args)
{
    struct stat st;

    ck_assert_int_eq(weft_fs_stat("/", &st, WEFT_FOREVER), -EPERM);
    ck_assert_int_eq(run_on(1, bad_args_main, NULL), 0);
}
END_TEST

static Suite *fs_suite(void)
{
    Suite *s = suite_create("fs");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_calls);
    tcase_add_test(tc, test_concurrent_listings);
    tcase_add_test(tc, test_interrupted);
    tcase_add_test(tc, test_bad_args);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(fs_suite)

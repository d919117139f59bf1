/* Locks: ownership belongs to a task, never to its record; a task that
 * ends holding one is reported; the scoped read and write guards. */
#include <errno.h>
#include <stdint.h>

#include "testutil.h"

static weft_lock shared_lock;

static void *take_and_end(void *arg)
{
    (void)arg;
    CHECK(weft_lock_acquire(&shared_lock, WEFT_FOREVER) == 0);
    return NULL; /* a mistake: it ends holding the lock */
}

static void *try_after(void *arg)
{
    int *rc = arg;
    rc[0] = weft_lock_try_acquire(&shared_lock);
    rc[1] = weft_lock_release(&shared_lock);
    return NULL;
}

static void *ended_holding_main(void *arg)
{
    weft_task *t;
    int rc[2] = { 1, 1 };
    (void)arg;
    ck_assert_int_eq(weft_lock_init(&shared_lock), 0);
    ck_assert_int_eq(weft_spawn_ex(&t, take_and_end, NULL,
                                   &(weft_spawn_opts){ .name = "holder" }),
                     0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    ck_assert_int_eq(weft_task_unref(t), 0);
    /* The next task very likely reuses holder's record (the cache is a
     * stack): it must not inherit the lock. */
    ck_assert_int_eq(weft_spawn(&t, try_after, rc), 0);
    ck_assert_int_eq(weft_await(t, NULL), 0);
    weft_task_unref(t);
    ck_assert_int_eq(rc[0], -EAGAIN); /* held, by somebody else */
    ck_assert_int_eq(rc[1], -EPERM);  /* and not its to release */
    ck_assert_int_eq(weft_lock_is_locked(&shared_lock), 1);
    ck_assert_int_eq(weft_lock_try_acquire(&shared_lock), -EAGAIN);
    ck_assert_int_eq(weft_lock_destroy(&shared_lock), -EBUSY);
    return NULL;
}

START_TEST(test_a_task_that_ends_holding_a_lock)
{
    char err[2048];
    ck_assert_int_eq(run_capturing_stderr(1, ended_holding_main, NULL, err,
                                          sizeof err), 0);
    ck_assert_msg(strstr(err, "task 'holder' ended holding 1 lock") != NULL,
                  "stderr: %s", err);
}
END_TEST

/* --- WEFT_WITH_READ_LOCK, WEFT_WITH_WRITE_LOCK -------------------------------- */

static int read_twice(weft_rwlock *rw)
{
    int rc, inner;
    WEFT_WITH_READ_LOCK(rw, rc) {
        /* Readers share: a second read hold while one is held. */
        WEFT_WITH_READ_LOCK(rw, inner) {
            if (weft_rwlock_try_acquire_write(rw) != -EAGAIN)
                return -1;
            return 0; /* leaves both blocks: both holds released */
        }
    }
    return rc < 0 ? rc : inner;
}

static void *guards_main(void *arg)
{
    weft_rwlock rw;
    int rc;
    (void)arg;
    ck_assert_int_eq(weft_rwlock_init(&rw), 0);
    ck_assert_int_eq(read_twice(&rw), 0);
    WEFT_WITH_WRITE_LOCK(&rw, rc) {
        ck_assert_int_eq(weft_rwlock_try_acquire_read(&rw), -EDEADLK);
        ck_assert_int_eq(weft_rwlock_acquire_write(&rw, 0), -EDEADLK);
    }
    ck_assert_int_eq(rc, 0);
    /* Released on leaving the block: both kinds can be had again. */
    ck_assert_int_eq(weft_rwlock_try_acquire_write(&rw), 0);
    ck_assert_int_eq(weft_rwlock_release_write(&rw), 0);
    ck_assert_int_eq(weft_rwlock_destroy(&rw), 0);
    return NULL;
}

START_TEST(test_read_and_write_guards_release_on_every_way_out)
{
    ck_assert_int_eq(run_on(1, guards_main, NULL), 0);
}
END_TEST

static Suite *lock_suite(void)
{
    Suite *s = suite_create("lock");
    TCase *tc = tcase_create("lock");
    tcase_set_timeout(tc, TEST_TIMEOUT);
    tcase_add_test(tc, test_a_task_that_ends_holding_a_lock);
    tcase_add_test(tc, test_read_and_write_guards_release_on_every_way_out);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(lock_suite)

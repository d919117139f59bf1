/* Error codes: the table, weft_strerror and weft_err_name. */
#include <errno.h>
#include <ctype.h>

#include "testutil.h"

START_TEST(test_codes_are_negative_errno)
{
    ck_assert_int_eq(WEFT_EINVAL, -EINVAL);
    ck_assert_int_eq(WEFT_ENOMEM, -ENOMEM);
    ck_assert_int_eq(WEFT_ECANCELED, -ECANCELED);
    ck_assert_int_eq(WEFT_ETIMEDOUT, -ETIMEDOUT);
    ck_assert_int_eq(WEFT_EDEADLK, -EDEADLK);
    ck_assert_int_eq(WEFT_ENXIO, -ENXIO);
    ck_assert_int_eq(WEFT_ENFILE, -ENFILE);
    ck_assert_int_eq(WEFT_ENOTSOCK, -ENOTSOCK);
    ck_assert_int_eq(WEFT_EAFNOSUPPORT, -EAFNOSUPPORT);
}
END_TEST

START_TEST(test_every_table_entry_has_name_and_text)
{
    int n = 0;
#define CHECK_ENTRY(name, msg)                                                \
    ck_assert_str_eq(weft_err_name(WEFT_##name), #name);                      \
    ck_assert_str_eq(weft_strerror(WEFT_##name), msg);                        \
    ck_assert_int_lt(WEFT_##name, 0);                                         \
    n++;
    WEFT_ERRNO_MAP(CHECK_ENTRY)
#undef CHECK_ENTRY
    ck_assert_int_ge(n, 30);
}
END_TEST

START_TEST(test_zero_and_unknown_codes)
{
    ck_assert_str_eq(weft_strerror(0), "success");
    ck_assert_str_eq(weft_err_name(0), "OK");
    ck_assert_str_eq(weft_strerror(-100000), "unknown error");
    ck_assert_str_eq(weft_err_name(-100000), "UNKNOWN");
    /* Positive values are not error codes. */
    ck_assert_str_eq(weft_err_name(EINVAL), "UNKNOWN");
    ck_assert_str_eq(weft_strerror(EINVAL), "unknown error");
}
END_TEST

START_TEST(test_messages_are_lower_case_sentences)
{
#define CHECK_STYLE(name, msg)                                                \
    ck_assert(!isupper((unsigned char)msg[0]));                               \
    ck_assert(msg[sizeof msg - 2] != '.');
    WEFT_ERRNO_MAP(CHECK_STYLE)
#undef CHECK_STYLE
}
END_TEST

static Suite *errno_suite(void)
{
    Suite *s = suite_create("errno");
    TCase *tc = tcase_create("errno");
    tcase_add_test(tc, test_codes_are_negative_errno);
    tcase_add_test(tc, test_every_table_entry_has_name_and_text);
    tcase_add_test(tc, test_zero_and_unknown_codes);
    tcase_add_test(tc, test_messages_are_lower_case_sentences);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(errno_suite)

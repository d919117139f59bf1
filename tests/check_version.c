/* Version: the macros, the linked library and configure agree. */
#include "config.h"
#include "testutil.h"

START_TEST(test_runtime_version_matches_header)
{
    ck_assert_uint_eq(weft_version(), WEFT_VERSION_HEX);
    ck_assert_str_eq(weft_version_string(), WEFT_VERSION_STRING);
    ck_assert_uint_eq(weft_version() >> 16, WEFT_VERSION_MAJOR);
    ck_assert_uint_eq((weft_version() >> 8) & 0xff, WEFT_VERSION_MINOR);
    ck_assert_uint_eq(weft_version() & 0xff, WEFT_VERSION_PATCH);
}
END_TEST

START_TEST(test_version_matches_package)
{
    /* configure reads the version from weft/version.h. */
    ck_assert_str_eq(weft_version_string(), PACKAGE_VERSION);
}
END_TEST

static Suite *version_suite(void)
{
    Suite *s = suite_create("version");
    TCase *tc = tcase_create("version");
    tcase_add_test(tc, test_runtime_version_matches_header);
    tcase_add_test(tc, test_version_matches_package);
    suite_add_tcase(s, tc);
    return s;
}

WEFT_TEST_MAIN(version_suite)

/* weft-models' writers, verdicts and report lines, on fixed input: the
 * table, CSV and JSON compared byte for byte, the SVG checked for
 * well-formedness and its bars counted. */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../src/models/models.h"

static struct mr_row ok_row(const char *model, const char *variant,
                            double wall, double rate, double cpu, long rss,
                            double worst, double speedup, const char *check)
{
    struct mr_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.model, sizeof r.model, "%s", model);
    snprintf(r.variant, sizeof r.variant, "%s", variant);
    r.status = MR_OK;
    r.wall_s = wall;
    r.rate = rate;
    r.cpu_s = cpu;
    r.maxrss_kib = rss;
    r.worst_ms = worst;
    r.speedup = speedup;
    snprintf(r.check, sizeof r.check, "%s", check);
    return r;
}

static struct mr_row skip_row(const char *model, const char *why)
{
    struct mr_row r;
    memset(&r, 0, sizeof r);
    snprintf(r.model, sizeof r.model, "%s", model);
    r.status = MR_SKIP;
    snprintf(r.reason, sizeof r.reason, "%s", why);
    r.worst_ms = -1;
    r.speedup = -1;
    return r;
}

/* Two workloads: io with a skip whose reason needs quoting, and cpu. */
static void fixture(struct mr_results *res)
{
    memset(res, 0, sizeof *res);
    res->cpus = 2;
    res->quick = 1;
    res->repeat = 3;
    res->nw = 2;
    struct mr_workload_result *io = &res->w[0], *cpu = &res->w[1];
    snprintf(io->name, sizeof io->name, "io");
    snprintf(io->desc, sizeof io->desc, "10 connections x 2 round trips");
    snprintf(io->unit, sizeof io->unit, "trips/s");
    snprintf(io->worst, sizeof io->worst, "max round trip");
    io->rows[0] = ok_row("loop", "", 0.5, 40, 0.25, 2048, 1.5, 1, "20 trips ok");
    io->rows[1] = ok_row("threads", "", 1.0, 20, 0.5, 4096, 3, 0.5,
                         "20 trips ok");
    io->rows[2] = skip_row("loop+pool", "nothing to compute, \"really\"");
    io->nrows = 3;
    io->cpus_free = 1.5;
    snprintf(io->verdict, sizeof io->verdict, "loop won.");
    snprintf(cpu->name, sizeof cpu->name, "cpu");
    snprintf(cpu->desc, sizeof cpu->desc, "4 jobs");
    snprintf(cpu->unit, sizeof cpu->unit, "jobs/s");
    cpu->rows[0] = ok_row("loop", "", 2, 2000, 2, 1024, -1, 1, "4 sums ok");
    cpu->rows[1] = ok_row("procs", "", 1, 4000, 2, 3072, -1, 2, "4 sums ok");
    cpu->nrows = 2;
    cpu->cpus_free = -1;
    snprintf(cpu->verdict, sizeof cpu->verdict, "procs won.");
}

typedef int (*writer)(FILE *, const struct mr_results *);

static char *render(writer fn, const struct mr_results *res)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fn(f, res), 0);
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

START_TEST(test_table)
{
    struct mr_results res;
    fixture(&res);
    char *out = render(mr_write_table, &res);
    const char *want =
        "weft-models: 2 CPUs, quick sizes, median of 3 runs\n"
        "\n"
        "io: 10 connections x 2 round trips\n"
        "  model                    wall s         throughput    cpu s  peak "
        "MiB  worst ms  vs loop  check\n"
        "  loop                      0.500       40.0 trips/s    0.250       "
        "2.0      1.50    1.00x  20 trips ok\n"
        "  threads                   1.000       20.0 trips/s    0.500       "
        "4.0      3.00    0.50x  20 trips ok\n"
        "  loop+pool              skipped: nothing to compute, \"really\"\n"
        "  (worst: max round trip)\n"
        "  (CPUs free as the workload began: 1.5 of 2)\n"
        "  verdict: loop won.\n"
        "\n"
        "cpu: 4 jobs\n"
        "  model                    wall s         throughput    cpu s  peak "
        "MiB  worst ms  vs loop  check\n"
        "  loop                      2.000       2.0 K jobs/s    2.000       "
        "1.0         -    1.00x  4 sums ok\n"
        "  procs                     1.000       4.0 K jobs/s    2.000       "
        "3.0         -    2.00x  4 sums ok\n"
        "  verdict: procs won.\n";
    ck_assert_str_eq(out, want);
    free(out);
}
END_TEST

START_TEST(test_csv)
{
    struct mr_results res;
    fixture(&res);
    char *out = render(mr_write_csv, &res);
    const char *want =
        "workload,model,variant,status,wall_s,throughput,unit,cpu_s,"
        "maxrss_kib,worst_ms,speedup,check,reason\n"
        "io,loop,,ok,0.500000,40.000,trips/s,0.250000,2048,1.500,1.0000,"
        "20 trips ok,\n"
        "io,threads,,ok,1.000000,20.000,trips/s,0.500000,4096,3.000,0.5000,"
        "20 trips ok,\n"
        "io,loop+pool,,skipped,,,,,,,,,\"nothing to compute, "
        "\"\"really\"\"\"\n"
        "cpu,loop,,ok,2.000000,2000.000,jobs/s,2.000000,1024,,1.0000,"
        "4 sums ok,\n"
        "cpu,procs,,ok,1.000000,4000.000,jobs/s,2.000000,3072,,2.0000,"
        "4 sums ok,\n";
    ck_assert_str_eq(out, want);
    /* Every line has the header's 13 fields (outside quotes). */
    for (char *line = out; *line;) {
        int fields = 1, quoted = 0;
        char *p = line;
        for (; *p && (*p != '\n' || quoted); p++) {
            if (*p == '"')
                quoted = !quoted;
            else if (*p == ',' && !quoted)
                fields++;
        }
        ck_assert_int_eq(fields, 13);
        line = *p ? p + 1 : p;
    }
    free(out);
}
END_TEST

START_TEST(test_json)
{
    struct mr_results res;
    fixture(&res);
    char *out = render(mr_write_json, &res);
    const char *want =
        "{\"cpus\": 2, \"quick\": true, \"repeat\": 3, \"workloads\": [\n"
        "  {\"name\": \"io\", \"description\": \"10 connections x 2 round "
        "trips\", \"unit\": \"trips/s\", \"worst\": \"max round trip\", "
        "\"cpus_free\": 1.50, \"verdict\": \"loop won.\", \"rows\": [\n"
        "    {\"model\": \"loop\", \"variant\": \"\", \"status\": \"ok\", "
        "\"wall_s\": 0.500000, \"throughput\": 40.000, \"cpu_s\": 0.250000, "
        "\"maxrss_kib\": 2048, \"worst_ms\": 1.500, \"speedup\": 1.0000, "
        "\"check\": \"20 trips ok\"},\n"
        "    {\"model\": \"threads\", \"variant\": \"\", \"status\": \"ok\", "
        "\"wall_s\": 1.000000, \"throughput\": 20.000, \"cpu_s\": 0.500000, "
        "\"maxrss_kib\": 4096, \"worst_ms\": 3.000, \"speedup\": 0.5000, "
        "\"check\": \"20 trips ok\"},\n"
        "    {\"model\": \"loop+pool\", \"variant\": \"\", \"status\": "
        "\"skipped\", \"reason\": \"nothing to compute, \\\"really\\\"\"}]},\n"
        "  {\"name\": \"cpu\", \"description\": \"4 jobs\", \"unit\": "
        "\"jobs/s\", \"worst\": \"\", \"cpus_free\": null, \"verdict\": "
        "\"procs won.\", \"rows\": "
        "[\n"
        "    {\"model\": \"loop\", \"variant\": \"\", \"status\": \"ok\", "
        "\"wall_s\": 2.000000, \"throughput\": 2000.000, \"cpu_s\": "
        "2.000000, \"maxrss_kib\": 1024, \"worst_ms\": null, \"speedup\": "
        "1.0000, \"check\": \"4 sums ok\"},\n"
        "    {\"model\": \"procs\", \"variant\": \"\", \"status\": \"ok\", "
        "\"wall_s\": 1.000000, \"throughput\": 4000.000, \"cpu_s\": "
        "2.000000, \"maxrss_kib\": 3072, \"worst_ms\": null, \"speedup\": "
        "2.0000, \"check\": \"4 sums ok\"}]}\n"
        "]}\n";
    ck_assert_str_eq(out, want);
    free(out);
}
END_TEST

/* A small XML checker: tags nest and close, attributes are quoted, text
 * has no bare '<' or '&' outside entities. Returns the elements seen,
 * or -1. */
static int xml_elements(const char *s)
{
    char stack[64][32];
    int depth = 0, elements = 0;

    if (strncmp(s, "<?xml", 5) == 0)
        s = strstr(s, "?>") + 2;
    while (*s) {
        if (*s == '&') {
            if (strncmp(s, "&lt;", 4) && strncmp(s, "&gt;", 4) &&
                strncmp(s, "&amp;", 5) && strncmp(s, "&quot;", 6))
                return -1;
            s++;
            continue;
        }
        if (*s != '<') {
            s++;
            continue;
        }
        const char *end = strchr(s, '>');
        if (end == NULL)
            return -1;
        int quotes = 0;
        for (const char *p = s; p < end; p++) {
            if (*p == '"')
                quotes++;
            else if (*p == '<' && p != s)
                return -1;
        }
        if (quotes % 2)
            return -1;
        if (s[1] == '/') {
            size_t n = strcspn(s + 2, " >");
            if (depth == 0 || strlen(stack[depth - 1]) != n ||
                strncmp(stack[depth - 1], s + 2, n) != 0)
                return -1;
            depth--;
        } else {
            size_t n = strcspn(s + 1, " />");
            if (n == 0 || n >= 32)
                return -1;
            elements++;
            if (end[-1] != '/') {
                if (depth == 64)
                    return -1;
                memcpy(stack[depth], s + 1, n);
                stack[depth++][n] = '\0';
            }
        }
        s = end + 1;
    }
    return depth == 0 ? elements : -1;
}

static int count(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

START_TEST(test_svg)
{
    struct mr_results res;
    fixture(&res);
    char *out = render(mr_write_svg, &res);
    ck_assert_int_gt(xml_elements(out), 10);
    ck_assert_int_eq(count(out, "<svg "), 1);
    /* One bar per measured row; the skip has none. */
    ck_assert_int_eq(count(out, "class=\"bar\""), 4);
    ck_assert_int_eq(count(out, "<title>io, threads: 0.50x</title>"), 1);
    ck_assert_int_eq(count(out, "<title>cpu, procs: 2.00x</title>"), 1);
    /* Legend: loop, threads, procs; axis labels and decades 0.1x..10x. */
    char *legend = strstr(out, "class=\"legend\"");
    ck_assert_ptr_nonnull(legend);
    ck_assert_int_eq(count(legend, "<rect "), 3);
    ck_assert_int_eq(count(out, "speed-up (log scale)"), 1);
    ck_assert_int_eq(count(out, ">0.1x<"), 1);
    ck_assert_int_eq(count(out, ">10x<"), 1);
    free(out);

    /* Names that need escaping stay well-formed. */
    snprintf(res.w[0].name, sizeof res.w[0].name, "a<&>\"b");
    out = render(mr_write_svg, &res);
    ck_assert_int_gt(xml_elements(out), 10);
    ck_assert_int_eq(count(out, "a&lt;&amp;&gt;&quot;b"), 3);
    free(out);
    ck_assert_int_eq(xml_elements("<a><b></a></b>"), -1);
}
END_TEST

START_TEST(test_verdicts)
{
    struct mr_workload_result w;
    memset(&w, 0, sizeof w);
    snprintf(w.name, sizeof w.name, "cpu");
    w.cpus_free = -1; /* unknown */
    w.rows[0] = ok_row("loop", "", 2, 2000, 2, 1024, -1, 1, "");
    w.rows[1] = ok_row("procs", "", 1, 4000, 2, 3072, -1, 2, "");
    w.rows[2] = ok_row("py-asyncio", "", 3, 20, 3, 9000, -1, 1, "");
    w.rows[3] = ok_row("py-threads", "", 3, 20, 3, 9000, -1, 1, "");
    w.nrows = 4;
    mr_verdict(&w, 2);
    ck_assert_ptr_nonnull(strstr(w.verdict, "procs fastest (2.00x the single "
                                            "loop)"));
    ck_assert_ptr_nonnull(strstr(w.verdict, "agrees with the seeds "
                                            "(processes for CPU-bound work)"));
    ck_assert_ptr_nonnull(strstr(w.verdict, "py-threads kept 1.0 CPUs busy "
                                            "(the GIL"));
    ck_assert_ptr_nonnull(strstr(w.verdict, "computed 2.00x faster, keeping "
                                            "2.0 of 2 CPUs busy"));
    ck_assert_ptr_nonnull(strstr(w.verdict, "100x more jobs/s"));
    ck_assert_ptr_null(strstr(w.verdict, "inflates"));
    /* A baseline that waited for the CPU inflates the speed-ups. */
    w.rows[0].cpu_s = 1;
    mr_verdict(&w, 2);
    ck_assert_ptr_nonnull(strstr(w.verdict, "loop had the CPU only 50% of "
                                            "its wall time"));
    w.rows[0].cpu_s = 2;
    /* One CPU: no parallel speed-up, said so. */
    w.rows[1].wall_s = 2;
    w.rows[1].speedup = 1;
    mr_verdict(&w, 1);
    ck_assert_ptr_nonnull(strstr(w.verdict, "1 CPU: no model can compute in "
                                            "parallel"));
    /* Two CPUs and no speed-up: a contradiction; busy CPUs are named. */
    mr_verdict(&w, 2);
    ck_assert_ptr_nonnull(strstr(w.verdict, "procs only 1.00x, keeping 1.0 "
                                            "of 2 CPUs busy: contradicts the "
                                            "seeds."));
    /* A speed-up on one busy CPU is no parallelism: the baseline was
     * slow. */
    w.rows[0].wall_s = 3;
    w.rows[1].speedup = 1.5;
    mr_verdict(&w, 2);
    ck_assert_ptr_nonnull(strstr(w.verdict, "procs only 1.50x, keeping 1.0"));
    w.cpus_free = 1.2;
    mr_verdict(&w, 2);
    ck_assert_ptr_nonnull(strstr(w.verdict, "other work held the CPUs (1.2 "
                                            "free as the workload began)"));

    memset(&w, 0, sizeof w);
    snprintf(w.name, sizeof w.name, "blocking");
    w.rows[0] = ok_row("loop", "inline", 0.5, 100, 0, 1, 500, 1, "");
    w.rows[1] = ok_row("loop", "to_thread", 0.02, 2500, 0, 1, 1.5, 25, "");
    w.nrows = 2;
    mr_verdict(&w, 2);
    ck_assert_ptr_nonnull(strstr(w.verdict, "loop inline held the heartbeat "
                                            "up to 500.0 ms, to_thread 1.5 "
                                            "ms"));
    ck_assert_ptr_nonnull(strstr(w.verdict, "agrees with the seeds"));
    /* An inline call that stalled nothing contradicts them. */
    w.rows[0].worst_ms = 2;
    mr_verdict(&w, 2);
    ck_assert_ptr_nonnull(strstr(w.verdict, "does not show the stall"));

    memset(&w, 0, sizeof w);
    snprintf(w.name, sizeof w.name, "io");
    w.rows[0] = ok_row("loop", "", 1, 100, 1, 1000, 1, 1, "");
    w.rows[1] = ok_row("threads", "", 0.5, 200, 0.8, 1500, 1, 2, "");
    w.nrows = 2;
    mr_verdict(&w, 1);
    ck_assert_ptr_nonnull(strstr(w.verdict, "threads fastest (2.00x"));
    ck_assert_ptr_nonnull(strstr(w.verdict, "contradicts the seeds"));
}
END_TEST

START_TEST(test_report_lines)
{
    struct mr_report r = { .items = 7, .checksum = 28, .wall_s = 0.5,
                           .cpu_s = 0.25, .maxrss_kib = 1234, .worst_ms = -1 };
    struct mr_report back;
    char line[512];

    ck_assert_int_eq(mr_report_format(line, sizeof line, &r), 0);
    ck_assert_int_eq(mr_report_parse(line, &back), 0);
    ck_assert_int_eq(back.items, 7);
    ck_assert_int_eq(back.checksum, 28);
    ck_assert_int_eq(back.maxrss_kib, 1234);
    ck_assert(back.worst_ms < 0);
    ck_assert_int_eq(mr_report_parse("skip=no threads\n", &back), 0);
    ck_assert_str_eq(back.skip, "no threads");
    ck_assert_int_lt(mr_report_parse("items=1 checksum=2\n", &back), 0);
    ck_assert_int_lt(mr_report_parse("", &back), 0);
    ck_assert_int_lt(mr_report_parse("items=1 checksum=1 wall=0 cpu=0 "
                                     "maxrss=1 worst=0\n", &back), 0);
}
END_TEST

START_TEST(test_expected)
{
    struct mr_spec io = { .workload = MR_IO, .n = 3, .m = 5, .first = 2 };
    /* (3 + 4 + 5) x 5 trips. */
    ck_assert_int_eq(mr_expected_checksum(&io), 60);
    ck_assert_int_eq(mr_expected_items(&io), 15);
    struct mr_spec cpu = { .workload = MR_CPU, .n = 4, .m = 10, .first = 1 };
    long long sum = 0;
    for (long i = 1; i < 5; i++)
        sum += mr_fib(mr_fib_arg(10, i));
    ck_assert_int_eq(mr_expected_checksum(&cpu), sum);
    ck_assert_int_eq(mr_fib(10), 55);
}
END_TEST

static Suite *models_suite(void)
{
    Suite *s = suite_create("models");
    TCase *tc = tcase_create("writers");
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_csv);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_svg);
    tcase_add_test(tc, test_verdicts);
    tcase_add_test(tc, test_report_lines);
    tcase_add_test(tc, test_expected);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(models_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* weft-models: what each workload must produce, and the report line a
 * measuring child sends its parent (weft-models.py writes the same). */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models.h"

/* Recursive on purpose: the cpu workload is this call tree. */
long long mr_fib(long n)
{
    return n < 2 ? n : mr_fib(n - 1) + mr_fib(n - 2);
}

/* fib by iteration, to check the recursive results independently. */
static long long fib_iter(long n)
{
    long long a = 0, b = 1;
    for (long i = 0; i < n; i++) {
        long long t = a + b;
        a = b;
        b = t;
    }
    return a;
}

/* Sum of i + 1 over the items [first, first + n): every workload but cpu
 * adds its item's index + 1 once the item is done and checked, so a lost
 * or doubled item changes the sum. */
static long long index_sum(long first, long n)
{
    return (long long)n * first + (long long)n * (n + 1) / 2;
}

long long mr_expected_checksum(const struct mr_spec *s)
{
    long long sum = 0;

    switch (s->workload) {
    case MR_IO:
        return index_sum(s->first, s->n) * s->m;
    case MR_CPU:
        for (long i = s->first; i < s->first + s->n; i++)
            sum += fib_iter(mr_fib_arg(s->m, i));
        return sum;
    default:
        return index_sum(s->first, s->n);
    }
}

long mr_expected_items(const struct mr_spec *s)
{
    return s->workload == MR_IO ? s->n * s->m : s->n;
}

int mr_report_format(char *buf, size_t cap, const struct mr_report *r)
{
    int n;
    if (r->skip[0] != '\0')
        n = snprintf(buf, cap, "skip=%s\n", r->skip);
    else
        n = snprintf(buf, cap,
                     "items=%ld checksum=%lld wall=%.9g cpu=%.9g maxrss=%ld "
                     "worst=%.9g\n",
                     r->items, r->checksum, r->wall_s, r->cpu_s,
                     r->maxrss_kib, r->worst_ms);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Parses "skip=reason" or the key=value words; every key is required. */
int mr_report_parse(const char *line, struct mr_report *r)
{
    memset(r, 0, sizeof *r);
    if (strncmp(line, "skip=", 5) == 0) {
        snprintf(r->skip, sizeof r->skip, "%s", line + 5);
        r->skip[strcspn(r->skip, "\n")] = '\0';
        if (r->skip[0] == '\0')
            snprintf(r->skip, sizeof r->skip, "no reason given");
        return 0;
    }
    int got = sscanf(line,
                     "items=%ld checksum=%lld wall=%lf cpu=%lf maxrss=%ld "
                     "worst=%lf",
                     &r->items, &r->checksum, &r->wall_s, &r->cpu_s,
                     &r->maxrss_kib, &r->worst_ms);
    if (got != 6 || !isfinite(r->wall_s) || r->wall_s <= 0 ||
        !isfinite(r->cpu_s) || r->cpu_s < 0 || r->maxrss_kib < 0)
        return -EPROTO;
    return 0;
}

void mr_row_label(const struct mr_row *row, char *buf, size_t cap)
{
    if (row->variant[0] != '\0')
        snprintf(buf, cap, "%s (%s)", row->model, row->variant);
    else
        snprintf(buf, cap, "%s", row->model);
}

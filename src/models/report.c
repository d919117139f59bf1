/* weft-models: the writers. Each is a pure function of the results: an
 * aligned table for the terminal, CSV, JSON, and an SVG chart of each
 * row's speed-up over the single loop, bars grouped by workload on a log
 * scale. */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models.h"

/* --- the table ---------------------------------------------------------- */

static void fmt_rate(char *buf, size_t cap, double v, const char *unit)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%.2f M %s", v / 1e6, unit);
    else if (v >= 1e3)
        snprintf(buf, cap, "%.1f K %s", v / 1e3, unit);
    else
        snprintf(buf, cap, "%.1f %s", v, unit);
}

int mr_write_table(FILE *f, const struct mr_results *res)
{
    fprintf(f, "weft-models: %d CPU%s, %s sizes, ", res->cpus,
            res->cpus == 1 ? "" : "s", res->quick ? "quick" : "default");
    if (res->repeat > 1)
        fprintf(f, "median of %d runs", res->repeat);
    else
        fprintf(f, "one run each");
    fputc('\n', f);
    for (int i = 0; i < res->nw; i++) {
        const struct mr_workload_result *w = &res->w[i];
        fprintf(f, "\n%s: %s\n", w->name, w->desc);
        fprintf(f, "  %-22s %8s %18s %8s %9s %9s %8s  %s\n", "model",
                "wall s", "throughput", "cpu s", "peak MiB", "worst ms",
                "vs loop", "check");
        for (int r = 0; r < w->nrows; r++) {
            const struct mr_row *row = &w->rows[r];
            char label[48], rate[40], worst[16], sp[16];
            mr_row_label(row, label, sizeof label);
            if (row->status == MR_SKIP) {
                fprintf(f, "  %-22s skipped: %s\n", label, row->reason);
                continue;
            }
            fmt_rate(rate, sizeof rate, row->rate, w->unit);
            if (row->worst_ms >= 0)
                snprintf(worst, sizeof worst, "%.2f", row->worst_ms);
            else
                snprintf(worst, sizeof worst, "-");
            if (row->speedup > 0)
                snprintf(sp, sizeof sp, "%.2fx", row->speedup);
            else
                snprintf(sp, sizeof sp, "-");
            fprintf(f, "  %-22s %8.3f %18s %8.3f %9.1f %9s %8s  %s\n", label,
                    row->wall_s, rate, row->cpu_s,
                    (double)row->maxrss_kib / 1024, worst, sp, row->check);
        }
        if (w->worst[0] != '\0')
            fprintf(f, "  (worst: %s)\n", w->worst);
        if (w->cpus_free >= 0)
            fprintf(f, "  (CPUs free as the workload began: %.1f of %d)\n",
                    w->cpus_free, res->cpus);
        fprintf(f, "  verdict: %s\n", w->verdict);
    }
    return ferror(f) ? -1 : 0;
}

/* --- CSV ----------------------------------------------------------------- */

/* A field, quoted when it holds a comma, a quote or a line break. */
static void csv_str(FILE *f, const char *s)
{
    if (strpbrk(s, ",\"\n\r") == NULL) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

int mr_write_csv(FILE *f, const struct mr_results *res)
{
    fputs("workload,model,variant,status,wall_s,throughput,unit,cpu_s,"
          "maxrss_kib,worst_ms,speedup,check,reason\n",
          f);
    for (int i = 0; i < res->nw; i++) {
        const struct mr_workload_result *w = &res->w[i];
        for (int r = 0; r < w->nrows; r++) {
            const struct mr_row *row = &w->rows[r];
            fprintf(f, "%s,", w->name);
            csv_str(f, row->model);
            fputc(',', f);
            csv_str(f, row->variant);
            if (row->status == MR_SKIP) {
                fputs(",skipped,,,,,,,,,", f);
                csv_str(f, row->reason);
                fputc('\n', f);
                continue;
            }
            fprintf(f, ",ok,%.6f,%.3f,", row->wall_s, row->rate);
            csv_str(f, w->unit);
            fprintf(f, ",%.6f,%ld,", row->cpu_s, row->maxrss_kib);
            if (row->worst_ms >= 0)
                fprintf(f, "%.3f", row->worst_ms);
            fputc(',', f);
            if (row->speedup > 0)
                fprintf(f, "%.4f", row->speedup);
            fputc(',', f);
            csv_str(f, row->check);
            fputs(",\n", f);
        }
    }
    return ferror(f) ? -1 : 0;
}

/* --- JSON ---------------------------------------------------------------- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch == '\n')
            fputs("\\n", f);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* A number, or null for "none" (negative) and non-finite values. */
static void json_num(FILE *f, double v, int decimals)
{
    if (v < 0 || !isfinite(v))
        fputs("null", f);
    else
        fprintf(f, "%.*f", decimals, v);
}

int mr_write_json(FILE *f, const struct mr_results *res)
{
    fprintf(f, "{\"cpus\": %d, \"quick\": %s, \"repeat\": %d, "
               "\"workloads\": [",
            res->cpus, res->quick ? "true" : "false", res->repeat);
    for (int i = 0; i < res->nw; i++) {
        const struct mr_workload_result *w = &res->w[i];
        fputs(i ? ",\n  {\"name\": " : "\n  {\"name\": ", f);
        json_str(f, w->name);
        fputs(", \"description\": ", f);
        json_str(f, w->desc);
        fputs(", \"unit\": ", f);
        json_str(f, w->unit);
        fputs(", \"worst\": ", f);
        json_str(f, w->worst);
        fputs(", \"cpus_free\": ", f);
        json_num(f, w->cpus_free, 2);
        fputs(", \"verdict\": ", f);
        json_str(f, w->verdict);
        fputs(", \"rows\": [", f);
        for (int r = 0; r < w->nrows; r++) {
            const struct mr_row *row = &w->rows[r];
            fputs(r ? ",\n    {\"model\": " : "\n    {\"model\": ", f);
            json_str(f, row->model);
            fputs(", \"variant\": ", f);
            json_str(f, row->variant);
            if (row->status == MR_SKIP) {
                fputs(", \"status\": \"skipped\", \"reason\": ", f);
                json_str(f, row->reason);
                fputc('}', f);
                continue;
            }
            fputs(", \"status\": \"ok\", \"wall_s\": ", f);
            json_num(f, row->wall_s, 6);
            fputs(", \"throughput\": ", f);
            json_num(f, row->rate, 3);
            fputs(", \"cpu_s\": ", f);
            json_num(f, row->cpu_s, 6);
            fprintf(f, ", \"maxrss_kib\": %ld, \"worst_ms\": ", row->maxrss_kib);
            json_num(f, row->worst_ms, 3);
            fputs(", \"speedup\": ", f);
            json_num(f, row->speedup, 4);
            fputs(", \"check\": ", f);
            json_str(f, row->check);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fputs("\n]}\n", f);
    return ferror(f) ? -1 : 0;
}

/* --- SVG ----------------------------------------------------------------- */

static void xml_str(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char *const palette[] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939",
    "#8c6d31", "#843c39", "#7b4173", "#3182bd",
};
#define NCOLORS (sizeof palette / sizeof palette[0])

#define SVG_W 960
#define SVG_H 480
#define PLOT_L 80
#define PLOT_R 730 /* the legend is to its right */
#define PLOT_T 50
#define PLOT_B 410

/* The distinct row labels with a bar, in order of first appearance: one
 * legend entry and colour each. */
static int legend_labels(const struct mr_results *res, char labels[][48],
                         int max)
{
    int n = 0;
    for (int i = 0; i < res->nw; i++) {
        for (int r = 0; r < res->w[i].nrows; r++) {
            const struct mr_row *row = &res->w[i].rows[r];
            char l[48];
            int k = 0;
            if (row->status != MR_OK || row->speedup <= 0)
                continue;
            mr_row_label(row, l, sizeof l);
            while (k < n && strcmp(labels[k], l) != 0)
                k++;
            if (k == n && n < max)
                snprintf(labels[n++], 48, "%s", l);
        }
    }
    return n;
}

static int label_index(char labels[][48], int n, const struct mr_row *row)
{
    char l[48];
    mr_row_label(row, l, sizeof l);
    for (int k = 0; k < n; k++) {
        if (strcmp(labels[k], l) == 0)
            return k;
    }
    return 0;
}

int mr_write_svg(FILE *f, const struct mr_results *res)
{
    char labels[MR_NWORKLOADS * MR_ROWS_MAX][48];
    int nl = legend_labels(res, labels, MR_NWORKLOADS * MR_ROWS_MAX);
    double lo = 1, hi = 1;

    for (int i = 0; i < res->nw; i++) {
        for (int r = 0; r < res->w[i].nrows; r++) {
            const struct mr_row *row = &res->w[i].rows[r];
            if (row->status != MR_OK || row->speedup <= 0)
                continue;
            lo = fmin(lo, row->speedup);
            hi = fmax(hi, row->speedup);
        }
    }
    /* Whole decades, at least one either side of 1x. */
    int dlo = (int)floor(log10(lo)), dhi = (int)ceil(log10(hi));
    if (dlo > -1)
        dlo = -1;
    if (dhi < 1)
        dhi = 1;
#define Y(v) (PLOT_B - (log10(v) - dlo) / (double)(dhi - dlo) * (PLOT_B - PLOT_T))

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
               "height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"sans-serif\" font-size=\"12\">\n",
            SVG_W, SVG_H, SVG_W, SVG_H);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n", SVG_W,
            SVG_H);
    fprintf(f, "<text x=\"%d\" y=\"24\" font-size=\"15\" "
               "font-weight=\"bold\">weft-models: speed-up over the single "
               "loop (%d CPU%s%s)</text>\n",
            PLOT_L, res->cpus, res->cpus == 1 ? "" : "s",
            res->quick ? ", quick sizes" : "");
    fprintf(f, "<text x=\"%d\" y=\"40\" font-size=\"11\" fill=\"#555\">"
               "wall time of loop (py-asyncio for Python rows) / wall time "
               "of the model; above 1x is faster</text>\n",
            PLOT_L);
    /* The y axis: a grid line and a label per decade. */
    for (int d = dlo; d <= dhi; d++) {
        double v = pow(10, d), y = Y(v);
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                   "stroke=\"%s\" stroke-width=\"%s\"/>\n",
                PLOT_L, y, PLOT_R, y, d == 0 ? "#000" : "#ddd",
                d == 0 ? "1.5" : "1");
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%gx</text>\n",
                PLOT_L - 6, y + 4, v);
    }
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" "
               "stroke=\"#000\"/>\n",
            PLOT_L, PLOT_T, PLOT_L, PLOT_B);
    fprintf(f, "<text transform=\"translate(24 %d) rotate(-90)\" "
               "text-anchor=\"middle\">speed-up (log scale)</text>\n",
            (PLOT_T + PLOT_B) / 2);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">workload"
               "</text>\n",
            (PLOT_L + PLOT_R) / 2, PLOT_B + 45);

    /* The bars, grouped by workload. */
    double gw = (double)(PLOT_R - PLOT_L) / (res->nw > 0 ? res->nw : 1);
    for (int i = 0; i < res->nw; i++) {
        const struct mr_workload_result *w = &res->w[i];
        int nb = 0;
        for (int r = 0; r < w->nrows; r++)
            nb += w->rows[r].status == MR_OK && w->rows[r].speedup > 0;
        double x0 = PLOT_L + gw * i + gw * 0.1;
        double bw = gw * 0.8 / (nb > 0 ? nb : 1);
        fprintf(f, "<g class=\"workload\">\n");
        int b = 0;
        for (int r = 0; r < w->nrows; r++) {
            const struct mr_row *row = &w->rows[r];
            char l[48];
            if (row->status != MR_OK || row->speedup <= 0)
                continue;
            mr_row_label(row, l, sizeof l);
            double y1 = Y(1), yv = Y(row->speedup);
            double top = fmin(y1, yv), h = fabs(y1 - yv);
            fprintf(f, "<rect class=\"bar\" x=\"%.1f\" y=\"%.1f\" "
                       "width=\"%.1f\" height=\"%.1f\" fill=\"%s\"><title>",
                    x0 + bw * b, top, bw * 0.9, h < 1 ? 1 : h,
                    palette[label_index(labels, nl, row) % NCOLORS]);
            xml_str(f, w->name);
            fputs(", ", f);
            xml_str(f, l);
            fprintf(f, ": %.2fx</title></rect>\n", row->speedup);
            /* The value over (or under) its bar. */
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"8\" "
                       "text-anchor=\"middle\">%.2g</text>\n",
                    x0 + bw * b + bw * 0.45,
                    row->speedup >= 1 ? top - 3 : top + h + 9, row->speedup);
            b++;
        }
        fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\" "
                   "font-weight=\"bold\">",
                PLOT_L + gw * (i + 0.5), PLOT_B + 20);
        xml_str(f, w->name);
        fputs("</text>\n</g>\n", f);
    }
    /* The legend. */
    fprintf(f, "<g class=\"legend\">\n");
    for (int k = 0; k < nl; k++) {
        int y = PLOT_T + k * 18;
        fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" "
                   "fill=\"%s\"/>\n",
                PLOT_R + 20, y, palette[k % NCOLORS]);
        fprintf(f, "<text x=\"%d\" y=\"%d\">", PLOT_R + 38, y + 10);
        xml_str(f, labels[k]);
        fputs("</text>\n", f);
    }
    fputs("</g>\n</svg>\n", f);
#undef Y
    return ferror(f) ? -1 : 0;
}

/* weft-models: the same workloads (io, wait, cpu, blocking) under each
 * concurrency model: weft's single loop, weft on every core, threads,
 * processes, the loop with a process pool, and Python's asyncio,
 * threading and multiprocessing. See weft-models(1) and doc/models.md.
 *
 * This file reads the options and writes the results; src/models/ has
 * the workloads (work_*.c), the measuring child (measure.c), the parent
 * that runs the children (runner.c), the writers (report.c) and the
 * verdicts (verdict.c).
 */
#include "config.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "models/runner.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: weft-models [--quick] [--workloads LIST] [--models LIST]\n"
            "                   [--repeat N] [--csv[=FILE]] [--json[=FILE]]\n"
            "                   [--svg FILE] [--script FILE]\n"
            "  workloads: io, wait, cpu, blocking (default: all)\n"
            "  models:    loop, steal, threads, procs, loop+pool, python\n"
            "             (default: all)\n"
            "See weft-models(1).\n");
}

/* Parses a comma-separated list of names into a bit mask. */
static int parse_list(const char *what, const char *arg,
                      const char *const *names, int n, unsigned *mask)
{
    char buf[256];
    *mask = 0;
    if (strlen(arg) >= sizeof buf)
        return -1;
    strcpy(buf, arg);
    for (char *save, *tok = strtok_r(buf, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        int i = 0;
        while (i < n && strcmp(tok, names[i]) != 0)
            i++;
        if (i == n) {
            fprintf(stderr, "weft-models: unknown %s '%s'\n", what, tok);
            return -1;
        }
        *mask |= 1u << i;
    }
    return *mask != 0 ? 0 : -1;
}

static const char *find_in_path(const char *prog)
{
    static char found[PATH_MAX];
    const char *path = getenv("PATH");
    char buf[4096];

    if (path == NULL || strlen(path) >= sizeof buf)
        return NULL;
    strcpy(buf, path);
    for (char *save, *dir = strtok_r(buf, ":", &save); dir != NULL;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(found, sizeof found, "%s/%s", *dir ? dir : ".", prog);
        if (access(found, X_OK) == 0)
            return found;
    }
    return NULL;
}

/* The script: the option, then $WEFT_MODELS_SCRIPT, then the source tree
 * when this binary runs from its build tree, then pkgdatadir. */
static const char *find_script(const char *opt)
{
    static char self[PATH_MAX];
    const char *env = getenv("WEFT_MODELS_SCRIPT");

    if (opt != NULL)
        return access(opt, R_OK) == 0 ? opt : NULL;
    if (env != NULL && *env != '\0')
        return access(env, R_OK) == 0 ? env : NULL;
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n > 0) {
        self[n] = '\0';
        size_t blen = strlen(MODELS_BUILDDIR);
        if (strncmp(self, MODELS_BUILDDIR, blen) == 0 && self[blen] == '/' &&
            access(MODELS_SRCDIR "/src/weft-models.py", R_OK) == 0)
            return MODELS_SRCDIR "/src/weft-models.py";
    }
    if (access(MODELS_PKGDATADIR "/weft-models.py", R_OK) == 0)
        return MODELS_PKGDATADIR "/weft-models.py";
    return NULL;
}

/* Writes with fn to path ("-": stdout). Returns 0 or -1. */
static int write_to(const char *path, int (*fn)(FILE *, const struct mr_results *),
                    const struct mr_results *res)
{
    if (strcmp(path, "-") == 0)
        return fn(stdout, res) < 0 || fflush(stdout) != 0 ? -1 : 0;
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    int rc = fn(f, res);
    if (fclose(f) != 0 || rc < 0) {
        fprintf(stderr, "weft-models: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "quick", no_argument, NULL, 'q' },
        { "workloads", required_argument, NULL, 'w' },
        { "models", required_argument, NULL, 'm' },
        { "repeat", required_argument, NULL, 'r' },
        { "csv", optional_argument, NULL, 'c' },
        { "json", optional_argument, NULL, 'j' },
        { "svg", required_argument, NULL, 's' },
        { "script", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct mr_config c = { .workloads = (1u << MR_NWORKLOADS) - 1,
                           .models = (1u << MR_NMODELS) - 1,
                           .repeat = 1 };
    const char *csv = NULL, *json = NULL, *svg = NULL, *script = NULL;
    int opt;

    if (argc > 1 && strcmp(argv[1], "__run") == 0)
        return mr_child_main(argc, argv);
    while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        char *end;
        switch (opt) {
        case 'q':
            c.quick = 1;
            break;
        case 'w':
            if (parse_list("workload", optarg, mr_workload_names, MR_NWORKLOADS,
                           &c.workloads) < 0)
                goto bad;
            break;
        case 'm':
            if (parse_list("model", optarg, mr_model_names, MR_NMODELS,
                           &c.models) < 0)
                goto bad;
            break;
        case 'r':
            c.repeat = (int)strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || c.repeat < 1 ||
                c.repeat > MR_REPEAT_MAX)
                goto bad;
            break;
        case 'c':
            csv = optarg != NULL ? optarg : "-";
            break;
        case 'j':
            json = optarg != NULL ? optarg : "-";
            break;
        case 's':
            svg = optarg;
            break;
        case 'p':
            script = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            goto bad;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "weft-models: unexpected argument '%s'\n", argv[optind]);
        goto bad;
    }
    if (csv != NULL && json != NULL && strcmp(csv, "-") == 0 &&
        strcmp(json, "-") == 0) {
        fprintf(stderr, "weft-models: --csv and --json cannot both go to "
                        "standard output\n");
        goto bad;
    }
    /* $WEFT_MODELS_PYTHON picks the interpreter (the tests name a missing
     * one to see the skip). */
    const char *py = getenv("WEFT_MODELS_PYTHON");
    if (py != NULL && *py != '\0')
        c.python = access(py, X_OK) == 0 ? py : NULL;
    else
        c.python = find_in_path("python3");
    c.script = find_script(script);
    if (script != NULL && c.script == NULL) {
        fprintf(stderr, "weft-models: cannot read %s\n", script);
        goto bad;
    }
    c.progress = isatty(STDERR_FILENO);

    static struct mr_results res;
    if (mr_run_all(&c, &res) < 0)
        return 1;
    int to_stdout = (csv != NULL && strcmp(csv, "-") == 0) ||
                    (json != NULL && strcmp(json, "-") == 0);
    int rc = 0;
    if (!to_stdout)
        rc |= write_to("-", mr_write_table, &res);
    if (csv != NULL)
        rc |= write_to(csv, mr_write_csv, &res);
    if (json != NULL)
        rc |= write_to(json, mr_write_json, &res);
    if (svg != NULL)
        rc |= write_to(svg, mr_write_svg, &res);
    return rc < 0 ? 1 : 0;
bad:
    usage(stderr);
    return 2;
}

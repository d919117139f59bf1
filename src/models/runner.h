/* weft-models: the parent side's configuration and entry point. */
#ifndef WEFT_MODELS_RUNNER_H
#define WEFT_MODELS_RUNNER_H

#include "models.h"

enum mr_model {
    MR_M_LOOP,
    MR_M_STEAL,
    MR_M_THREADS,
    MR_M_PROCS,
    MR_M_POOL,
    MR_M_PYTHON,
    MR_NMODELS
};

#define MR_REPEAT_MAX 99

extern const char *const mr_workload_names[MR_NWORKLOADS];
extern const char *const mr_model_names[MR_NMODELS];

struct mr_config {
    unsigned workloads; /* bit per enum mr_workload */
    unsigned models;    /* bit per enum mr_model */
    int quick;
    int repeat;         /* 1..MR_REPEAT_MAX */
    int progress;       /* draw a progress bar on stderr */
    const char *python; /* python3's path, or NULL: not found */
    const char *script; /* weft-models.py, or NULL: not found */
};

/* Runs everything c selects into res. Returns 0, or -1 when a run failed
 * or gave a wrong result (a message was printed). */
int mr_run_all(const struct mr_config *c, struct mr_results *res);

#endif /* WEFT_MODELS_RUNNER_H */

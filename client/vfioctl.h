/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfioctl.h: what vfioctl's files share: the verbs' context, output,
 * errors, and the verbs themselves, by family:
 *
 *   vfioctl.c         main(), the verb table, help, the client and agent
 *   vfioctl-output.c  how output looks, the one JSON printer of values
 *   vfioctl-read.c    list, group, explain, monitor
 *   vfioctl-change.c  detach, reattach, persistent
 *   vfioctl-use.c     grant, revoke, run
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "json-writer.h"
#include "options.h"
#include "table.h"
#include "vfiod.h"

#define EXIT_REFUSED 1 /* the service refused or failed, or is unreachable */
#define EXIT_USAGE 2

/* Cleanup attributes for libvfiod's types (its *_free() take NULL). */
#define DEFINE_FREEP(type, fn)               \
        static inline void fn##p(type **p) { \
                fn(*p);                      \
        }
DEFINE_FREEP(VfiodDeviceList, vfiod_device_list_free)
DEFINE_FREEP(VfiodPlan, vfiod_plan_free)
DEFINE_FREEP(VfiodNodeList, vfiod_node_list_free)
DEFINE_FREEP(VfiodAssignmentList, vfiod_assignment_list_free)
DEFINE_FREEP(VfiodExplanation, vfiod_explanation_free)
#define _cleanup_error_ _cleanup_(vfiod_error_clear)

/* What main() opened for the verb (see the verb's flags). */
struct Vfioctl {
        const Options *options;
        const Verb *verb;
        VfiodClient *client; /* VERB_CLIENT: NULL otherwise */
        pid_t agent;         /* VERB_AGENT: our text agent, 0 when none */
};

/* Ends our text agent, once the calls that may ask are done (main() does
 * it at the end anyway). */
void vfioctl_agent_stop(Vfioctl *ctx);

/* Ends the agent and frees the client: before exec. */
void vfioctl_release(Vfioctl *ctx);

/* Prints the error (and the hint that goes with it, for `device`) and
 * returns EXIT_REFUSED. */
int vfioctl_fail(const Vfioctl *ctx, const VfiodError *error, const char *device);
int vfioctl_fail_output(int r);

/* The VFIOD_FLAG_* of the verb options given. */
uint64_t vfioctl_flags(const Options *options);

/* ---- output (vfioctl-output.c) ------------------------------------- */

/* How output looks, decided once from stdout by output_init(). */
typedef struct Output {
        bool tty;
        bool color;
        bool utf8;
        size_t width;
} Output;

extern Output out;

void output_init(void);
const TableStyle *output_table_style(void);
/* "→" on a UTF-8 terminal, "->" elsewhere, with a space either side. */
const char *output_arrow(void);

/* The one JSON printer of values: properties of the live model and keys
 * of the replies' dictionaries alike. */
void json_value(JsonWriter *w, const VfiodValue *v);
/* A VfiodFieldFunc: the key and its value; userdata is the JsonWriter. */
void json_field(const VfiodField *f, void *userdata);

/* ---- the verbs -------------------------------------------------------- */

int verb_list(Vfioctl *ctx, char **args, size_t n_args);
int verb_group(Vfioctl *ctx, char **args, size_t n_args);
int verb_explain(Vfioctl *ctx, char **args, size_t n_args);
int verb_monitor(Vfioctl *ctx, char **args, size_t n_args);

int verb_detach(Vfioctl *ctx, char **args, size_t n_args);
int verb_reattach(Vfioctl *ctx, char **args, size_t n_args);
int verb_persistent(Vfioctl *ctx, char **args, size_t n_args);

int verb_grant(Vfioctl *ctx, char **args, size_t n_args);
int verb_revoke(Vfioctl *ctx, char **args, size_t n_args);
int verb_run_check(const Options *options, char **args, size_t n_args);
int verb_run(Vfioctl *ctx, char **args, size_t n_args);

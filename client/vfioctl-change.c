/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfioctl-change.c: the verbs that move devices, and their record:
 * detach, reattach (a plan each), persistent (the assignments).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "vfioctl.h"

/* ---- plans -------------------------------------------------------- */

static int json_plan(const VfiodPlan *plan) {
        JsonWriter w;

        json_writer_init(&w, stdout, out.tty);
        json_writer_begin_object(&w);
        json_writer_key(&w, "plan");
        json_writer_begin_array(&w);
        for (size_t i = 0; i < plan->n_entries; i++) {
                json_writer_begin_object(&w);
                vfiod_plan_entry_foreach_field(plan->entries[i], json_field, &w);
                json_writer_end_object(&w);
        }
        json_writer_end_array(&w);
        json_writer_end_object(&w);
        return json_writer_finish(&w);
}

static int table_plan(const VfiodPlan *plan, bool dry_run) {
        static const char *const headers[] = {"ADDRESS", "ACTION", "DRIVER", "REASON"};
        const char *arrow = output_arrow();
        Table *t;
        int r = 0;

        t = table_new(4, headers);
        if (!t)
                return -ENOMEM;
        table_set_shrinkable(t, 3, 16);

        for (size_t i = 0; i < plan->n_entries && r >= 0; i++) {
                const VfiodPlanEntry *e = plan->entries[i];
                /* "" is no driver, except as the target of a planned
                 * reattach: the driver the kernel will probe is not known. */
                bool reattach = strcmp(e->action, VFIOD_ACTION_REATTACH) == 0;
                const char *from = *e->from ? e->from : "(none)";
                const char *to = *e->to ? e->to : reattach && dry_run ? "(host)" : "(none)";
                char *drivers = NULL;

                if (strcmp(from, to) == 0)
                        drivers = strdup(from);
                else if (asprintf(&drivers, "%s%s%s", from, arrow, to) < 0)
                        drivers = NULL;
                if (!drivers) {
                        r = -ENOMEM;
                        break;
                }

                bool keep = strcmp(e->action, VFIOD_ACTION_KEEP) == 0;
                const char *cells[] = {e->address, e->action, drivers, *e->reason ? e->reason : "-"};
                const char *colors[] = {NULL, keep ? TABLE_COLOR_DIM : TABLE_COLOR_GREEN, NULL, NULL};
                r = table_add_row(t, cells, colors);
                free(drivers);
        }

        if (r >= 0)
                r = table_print(t, stdout, output_table_style());
        table_free(t);
        if (r >= 0 && dry_run && out.tty)
                printf("Dry run: nothing was changed.\n");
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        return r;
}

/* Interactive authorization unless --no-ask-password and our text agent
 * (see main()): root and dry runs are never asked. */
static int verb_plan(Vfioctl *ctx, const char *device, bool detach) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_plan_freep) VfiodPlan *plan = NULL;
        uint64_t flags = vfioctl_flags(ctx->options);
        bool dry_run = flags & VFIOD_FLAG_DRY_RUN;
        int r;

        if (detach)
                r = vfiod_client_detach_device(ctx->client, device, flags, &plan, &error);
        else
                r = vfiod_client_reattach_device(ctx->client, device, flags, &plan, &error);

        vfioctl_agent_stop(ctx);

        if (r < 0)
                return vfioctl_fail(ctx, &error, device);
        r = ctx->options->json ? json_plan(plan) : table_plan(plan, dry_run);
        return r < 0 ? vfioctl_fail_output(r) : EXIT_SUCCESS;
}

int verb_detach(Vfioctl *ctx, char **args, size_t n_args) {
        return verb_plan(ctx, args[0], true);
}

int verb_reattach(Vfioctl *ctx, char **args, size_t n_args) {
        return verb_plan(ctx, args[0], false);
}

/* ---- persistent assignments ------------------------------------------ */

static int json_assignments(const VfiodAssignmentList *list) {
        JsonWriter w;

        json_writer_init(&w, stdout, out.tty);
        json_writer_begin_object(&w);
        json_writer_key(&w, "assignments");
        json_writer_begin_array(&w);
        for (size_t i = 0; i < list->n_assignments; i++) {
                json_writer_begin_object(&w);
                vfiod_assignment_foreach_field(list->assignments[i], json_field, &w);
                json_writer_end_object(&w);
        }
        json_writer_end_array(&w);
        json_writer_end_object(&w);
        return json_writer_finish(&w);
}

static int table_assignments(const VfiodAssignmentList *list) {
        static const char *const headers[] = {"ADDRESS", "IDS", "DRIVER", "CHECK", "RECORD"};
        Table *t;
        int r = 0;

        if (list->n_assignments == 0) {
                printf("No persistent assignments.\n");
                return fflush(stdout) != 0 ? -errno : 0;
        }
        t = table_new(5, headers);
        if (!t)
                return -ENOMEM;
        table_set_shrinkable(t, 3, 16);

        for (size_t i = 0; i < list->n_assignments && r >= 0; i++) {
                const VfiodAssignment *a = list->assignments[i];
                bool active = strcmp(a->persistent, VFIOD_PERSISTENT_ACTIVE) == 0;
                char ids[16] = "-";

                if (a->has_ids)
                        snprintf(ids, sizeof(ids), "[%04x:%04x]", a->vendor_id, a->device_id);
                const char *cells[] = {a->address, ids, *a->driver ? a->driver : "-", a->persistent,
                                       a->record};
                const char *colors[] = {NULL, NULL, NULL, active ? TABLE_COLOR_GREEN : TABLE_COLOR_YELLOW,
                                        NULL};
                r = table_add_row(t, cells, colors);
        }
        if (r >= 0)
                r = table_print(t, stdout, output_table_style());
        table_free(t);
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        return r;
}

int verb_persistent(Vfioctl *ctx, char **args, size_t n_args) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_assignment_list_freep) VfiodAssignmentList *list = NULL;
        const Options *options = ctx->options;
        VfiodClient *client = ctx->client;
        int r;

        r = vfiod_client_list_persistent_assignments(client, &list, &error);
        if (r < 0)
                return vfioctl_fail(ctx, &error, NULL);
        r = options->json ? json_assignments(list) : table_assignments(list);
        return r < 0 ? vfioctl_fail_output(r) : EXIT_SUCCESS;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfioctl: the command line client of vfiod, built on libvfiod only.
 */
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <langinfo.h>
#include <locale.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "config.h"
#include "json-writer.h"
#include "options.h"
#include "polkit-agent.h"
#include "table.h"
#include "vfiod.h"

#ifndef VFIOCTL_PKTTYAGENT
#define VFIOCTL_PKTTYAGENT "/usr/bin/pkttyagent"
#endif

#define EXIT_REFUSED 1 /* the service refused or failed, or is unreachable */
#define EXIT_USAGE 2

/* Cleanup attributes for libvfiod's types (its *_free() take NULL). */
#define DEFINE_FREEP(type, fn)               \
        static inline void fn##p(type **p) { \
                fn(*p);                      \
        }
DEFINE_FREEP(VfiodClient, vfiod_client_free)
DEFINE_FREEP(VfiodDeviceList, vfiod_device_list_free)
DEFINE_FREEP(VfiodPlan, vfiod_plan_free)
DEFINE_FREEP(VfiodNodeList, vfiod_node_list_free)
DEFINE_FREEP(VfiodAssignmentList, vfiod_assignment_list_free)
DEFINE_FREEP(VfiodExplanation, vfiod_explanation_free)
#define _cleanup_client_ _cleanup_(vfiod_client_freep)
#define _cleanup_error_ _cleanup_(vfiod_error_clear)

/* How output looks, decided once from stdout. */
static struct {
        bool tty;
        bool color;
        bool utf8;
        size_t width;
} out;

static void output_init(void) {
        const char *term = getenv("TERM"), *columns = getenv("COLUMNS");

        out.tty = isatty(STDOUT_FILENO);
        out.color = out.tty && !getenv("NO_COLOR") && !(term && strcmp(term, "dumb") == 0);
        out.utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;

        if (!out.tty)
                return;
        if (columns) {
                char *end;
                unsigned long n = strtoul(columns, &end, 10);
                if (*columns && !*end && n > 0 && n < 100000) {
                        out.width = n;
                        return;
                }
        }
        struct winsize ws;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
                out.width = ws.ws_col;
}

static const TableStyle *output_table_style(void) {
        static TableStyle style;
        style = (TableStyle){
                .header = out.tty,
                .color = out.color,
                .max_width = out.width,
                .ellipsis = out.utf8 ? "…" : "...",
        };
        return &style;
}

/* "vfioctl: <message>", each further line of a multi-line message
 * indented under the first. */
static void print_error_message(const char *message) {
        const char *line = message && *message ? message : "unknown error";
        bool first = true;

        while (line) {
                const char *nl = strchr(line, '\n');
                int len = nl ? (int) (nl - line) : (int) strlen(line);
                fprintf(stderr, "%s%.*s\n", first ? "vfioctl: " : "         ", len, line);
                first = false;
                line = nl ? nl + 1 : NULL;
        }
}

/* The verb being run, for hints that depend on it. */
static const char *running_verb = "";

static int fail(const VfiodError *error, const char *device) {
        print_error_message(error->message);

        /* The service words its refusals for any client; the command line
         * that does what it suggests is ours to give, once. */
        if (vfiod_error_has_name(error, VFIOD_ERROR_GROUP_NOT_VIABLE) && device)
                fprintf(stderr,
                        "Hint: 'vfioctl detach --group %s' detaches every device of "
                        "the group.\n",
                        device);
        else if (vfiod_error_has_name(error, VFIOD_ERROR_DEVICE_IN_USE) && device)
                fprintf(stderr, "Hint: add --force to detach it anyway, if you are sure the "
                                "host can do without it.\n");
        else if (vfiod_error_has_name(error, VFIOD_ERROR_NOT_DETACHED) && device &&
                 strcmp(running_verb, "reattach") != 0)
                fprintf(stderr,
                        "Hint: 'vfioctl detach --group %s' detaches it with its "
                        "group.\n",
                        device);
        else if ((vfiod_error_has_name(error, VFIOD_ERROR_NOT_ASSIGNABLE) ||
                  vfiod_error_has_name(error, VFIOD_ERROR_NOT_DETACHED)) &&
                 device)
                fprintf(stderr, "Hint: 'vfioctl group %s' lists the devices of its group.\n", device);
        else if (vfiod_error_has_name(error, VFIOD_ERROR_NO_SUCH_DEVICE) ||
                 vfiod_error_has_name(error, VFIOD_ERROR_INVALID_ADDRESS))
                fprintf(stderr, "Hint: 'vfioctl list' shows every PCI device.\n");
        else if (vfiod_error_has_name(error, VFIOD_DBUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED))
                fprintf(stderr, "Hint: this needs authentication: run vfioctl on a terminal "
                                "without --no-ask-password, or as root.\n");
        return EXIT_REFUSED;
}

static int fail_output(int r) {
        fprintf(stderr, "vfioctl: failed to write the output: %s\n", strerror(-r));
        return EXIT_REFUSED;
}

/* ---- devices ------------------------------------------------------ */

/* One key as JSON: the D-Bus dictionaries' own keys and types, driven by
 * libvfiod's table of them (a key the service adds needs nothing here). */
static void json_field(const VfiodField *f, void *userdata) {
        JsonWriter *w = userdata;

        json_writer_key(w, f->key);
        switch (f->type) {
        case VFIOD_FIELD_STRING: json_writer_string(w, f->string); break;
        case VFIOD_FIELD_NUMBER: json_writer_uint(w, f->number); break;
        case VFIOD_FIELD_BOOLEAN: json_writer_bool(w, f->boolean); break;
        case VFIOD_FIELD_NUMBER_LIST:
                json_writer_begin_array(w);
                for (size_t i = 0; i < f->n_items; i++)
                        json_writer_uint(w, f->numbers[i]);
                json_writer_end_array(w);
                break;
        case VFIOD_FIELD_STRING_LIST:
                json_writer_begin_array(w);
                for (size_t i = 0; i < f->n_items; i++)
                        json_writer_string(w, f->strings[i]);
                json_writer_end_array(w);
                break;
        }
}

static void json_device(JsonWriter *w, const VfiodDevice *d) {
        json_writer_begin_object(w);
        vfiod_device_foreach_field(d, json_field, w);
        json_writer_end_object(w);
}

static int json_devices(const VfiodDeviceList *list, bool has_group, uint32_t group) {
        JsonWriter w;

        json_writer_init(&w, stdout, out.tty);
        json_writer_begin_object(&w);
        if (has_group) {
                json_writer_key(&w, VFIOD_KEY_GROUP);
                json_writer_uint(&w, group);
        }
        json_writer_key(&w, "devices");
        json_writer_begin_array(&w);
        for (size_t i = 0; i < list->n_devices; i++)
                json_device(&w, list->devices[i]);
        json_writer_end_array(&w);
        json_writer_end_object(&w);
        return json_writer_finish(&w);
}

static const char *state_color(const char *state) {
        if (strcmp(state, VFIOD_STATE_VFIO) == 0)
                return TABLE_COLOR_GREEN;
        if (strcmp(state, VFIOD_STATE_STUB) == 0)
                return TABLE_COLOR_CYAN;
        if (strcmp(state, VFIOD_STATE_BRIDGE) == 0)
                return TABLE_COLOR_DIM;
        return NULL;
}

enum {
        DEVICE_COLUMN_GROUP,
        DEVICE_COLUMN_ADDRESS,
        DEVICE_COLUMN_IDS,
        DEVICE_COLUMN_NAME,
        DEVICE_COLUMN_DRIVER,
        DEVICE_COLUMN_STATE,
        DEVICE_COLUMN_OWNER,
        DEVICE_COLUMN_GRANTED,
        DEVICE_COLUMN_PERSISTENT,
        DEVICE_COLUMN_IN_USE,
        _DEVICE_COLUMN_MAX,
};

/* The persistence marker of a device: "-", "yes", "mismatch" (what
 * differs is in `vfioctl persistent`), or "stale" (the initramfs's
 * out-of-date copy of the records bound it this boot: --json says what
 * the real root did with it). */
static const char *persistent_marker(const char *persistent) {
        if (!*persistent)
                return "-";
        if (strcmp(persistent, VFIOD_PERSISTENT_ACTIVE) == 0)
                return "yes";
        if (strncmp(persistent, VFIOD_PERSISTENT_STALE_INITRAMFS,
                    strlen(VFIOD_PERSISTENT_STALE_INITRAMFS)) == 0)
                return "stale";
        return "mismatch";
}

static bool persistent_mismatch(const char *persistent) {
        return *persistent && strcmp(persistent, VFIOD_PERSISTENT_ACTIVE) != 0;
}

static int table_devices(const VfiodDeviceList *list) {
        static const char *const headers[_DEVICE_COLUMN_MAX] = {
                "GROUP", "ADDRESS", "IDS",     "NAME",       "DRIVER",
                "STATE", "OWNER",   "GRANTED", "PERSISTENT", "IN USE",
        };
        Table *t;
        int r = 0;

        t = table_new(_DEVICE_COLUMN_MAX, headers);
        if (!t)
                return -ENOMEM;
        table_set_shrinkable(t, DEVICE_COLUMN_NAME, 16);
        table_set_shrinkable(t, DEVICE_COLUMN_IN_USE, 12);

        for (size_t i = 0; i < list->n_devices && r >= 0; i++) {
                const VfiodDevice *d = list->devices[i];
                char group[16] = "-", ids[16], *name = NULL, granted[64] = "-", owner[16] = "-";

                if (d->has_group)
                        snprintf(group, sizeof(group), "%u", (unsigned) d->group);
                /* who detached it (DetachDevice's caller, this boot), when vfiod knows */
                if (d->has_owner_uid)
                        snprintf(owner, sizeof(owner), "%u", (unsigned) d->owner_uid);
                /* the users who may open its group by path: "1000,1001", "3 users" */
                if (d->n_granted_uids > 0 && d->n_granted_uids <= 3) {
                        size_t len = 0;
                        for (size_t k = 0; k < d->n_granted_uids; k++)
                                len += (size_t) snprintf(granted + len, sizeof(granted) - len, "%s%u",
                                                         k ? "," : "", (unsigned) d->granted_uids[k]);
                } else if (d->n_granted_uids > 3)
                        snprintf(granted, sizeof(granted), "%zu users", d->n_granted_uids);
                snprintf(ids, sizeof(ids), "[%04x:%04x]", d->vendor_id, d->device_id);
                if (asprintf(&name, "%s%s%s", d->vendor, *d->vendor && *d->name ? " " : "", d->name) < 0) {
                        r = -ENOMEM;
                        break;
                }

                const char *cells[_DEVICE_COLUMN_MAX] = {
                        [DEVICE_COLUMN_GROUP] = group,
                        [DEVICE_COLUMN_ADDRESS] = d->address,
                        [DEVICE_COLUMN_IDS] = ids,
                        [DEVICE_COLUMN_NAME] = *name ? name : "-",
                        [DEVICE_COLUMN_DRIVER] = *d->driver ? d->driver : "-",
                        [DEVICE_COLUMN_STATE] = d->state,
                        [DEVICE_COLUMN_OWNER] = owner,
                        [DEVICE_COLUMN_GRANTED] = granted,
                        [DEVICE_COLUMN_PERSISTENT] = persistent_marker(d->persistent),
                        [DEVICE_COLUMN_IN_USE] = *d->in_use ? d->in_use : "-",
                };
                const char *colors[_DEVICE_COLUMN_MAX] = {
                        [DEVICE_COLUMN_STATE] = state_color(d->state),
                        [DEVICE_COLUMN_PERSISTENT] =
                                persistent_mismatch(d->persistent) ? TABLE_COLOR_YELLOW : NULL,
                        [DEVICE_COLUMN_IN_USE] = *d->in_use ? TABLE_COLOR_YELLOW : NULL,
                };
                r = table_add_row(t, cells, colors);
                free(name);
        }

        if (r >= 0)
                r = table_print(t, stdout, output_table_style());
        table_free(t);
        if (r >= 0 && fflush(stdout) != 0)
                r = -errno;
        return r;
}

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
        const char *arrow = out.tty && out.utf8 ? " → " : " -> ";
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

/* ---- verbs -------------------------------------------------------- */

static int client_open(VfiodClient **ret) {
        VfiodError error = VFIOD_ERROR_INIT;
        int r;

        r = vfiod_client_new(ret, &error);
        if (r < 0) {
                r = fail(&error, NULL);
                vfiod_error_clear(&error);
                return r;
        }
        return 0;
}

static int verb_list(const Options *options, char **args, size_t n_args) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_device_list_freep) VfiodDeviceList *list = NULL;
        _cleanup_client_ VfiodClient *client = NULL;
        int r, ret;

        ret = client_open(&client);
        if (ret != 0)
                return ret;
        r = vfiod_client_list_devices(client, &list, &error);
        if (r < 0)
                return fail(&error, NULL);
        r = options->json ? json_devices(list, false, 0) : table_devices(list);
        return r < 0 ? fail_output(r) : EXIT_SUCCESS;
}

static int verb_group(const Options *options, char **args, size_t n_args) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_device_list_freep) VfiodDeviceList *list = NULL;
        _cleanup_(vfiod_explanation_freep) VfiodExplanation *why = NULL;
        _cleanup_client_ VfiodClient *client = NULL;
        uint32_t group = 0;
        int r, ret;

        ret = client_open(&client);
        if (ret != 0)
                return ret;
        r = vfiod_client_get_group(client, args[0], &group, &list, &error);
        if (r < 0)
                return fail(&error, args[0]);
        if (options->json) {
                r = json_devices(list, true, group);
                return r < 0 ? fail_output(r) : EXIT_SUCCESS;
        }
        /* the cause above the table; a service without ExplainGroup (older)
         * or a group that changed meanwhile just has no such line */
        vfiod_error_clear(&error);
        if (vfiod_client_explain_group(client, args[0], &why, &error) >= 0 && why->group == group) {
                if (*why->cause_device)
                        printf("Cause: %s (%s): %s\n", why->cause, why->cause_device, why->explanation);
                else
                        printf("Cause: %s: %s\n", why->cause, why->explanation);
        }
        r = table_devices(list);
        return r < 0 ? fail_output(r) : EXIT_SUCCESS;
}

static int json_explanation(const VfiodExplanation *e) {
        JsonWriter w;

        json_writer_init(&w, stdout, out.tty);
        json_writer_begin_object(&w);
        vfiod_explanation_foreach_field(e, json_field, &w);
        json_writer_key(&w, VFIOD_KEY_ISOLATING_SLOTS);
        json_writer_begin_array(&w);
        for (size_t i = 0; i < e->n_isolating_slots; i++) {
                json_writer_begin_object(&w);
                vfiod_isolating_slot_foreach_field(e->isolating_slots[i], json_field, &w);
                json_writer_end_object(&w);
        }
        json_writer_end_array(&w);
        json_writer_end_object(&w);
        return json_writer_finish(&w);
}

/* "a, b" and a newline, or @none */
static void print_items(char *const *items, const char *none) {
        if (!items || !items[0])
                printf("%s", none);
        for (size_t i = 0; items && items[i]; i++)
                printf("%s%s", i ? ", " : "", items[i]);
        printf("\n");
}

static int verb_explain(const Options *options, char **args, size_t n_args) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_explanation_freep) VfiodExplanation *e = NULL;
        _cleanup_client_ VfiodClient *client = NULL;
        int r, ret;

        ret = client_open(&client);
        if (ret != 0)
                return ret;
        r = vfiod_client_explain_group(client, args[0], &e, &error);
        if (r < 0)
                return fail(&error, args[0]);
        if (options->json) {
                r = json_explanation(e);
                return r < 0 ? fail_output(r) : EXIT_SUCCESS;
        }
        printf("%-14s%" PRIu32 "\n", "Group:", e->group);
        if (*e->cause_device)
                printf("%-14s%s (%s)\n", "Cause:", e->cause, e->cause_device);
        else
                printf("%-14s%s\n", "Cause:", e->cause);
        printf("%-14s%s\n", "Why:", e->explanation);
        printf("%-14s%s\n", "Advice:", e->advice);
        for (size_t i = 0; i < e->n_isolating_slots; i++) {
                const VfiodIsolatingSlot *p = e->isolating_slots[i];
                char label[64];

                if (*p->slot)
                        snprintf(label, sizeof(label), "  slot %s", p->slot);
                else
                        snprintf(label, sizeof(label), "  port");
                printf("%-14s%s: ", label, p->port);
                print_items(p->occupants, "free");
        }
        printf("%-14s", "Reset:");
        print_items(e->reset_methods, "none");
        if (*e->reset_warning)
                printf("%-14s%s\n", "Warning:", e->reset_warning);
        return EXIT_SUCCESS;
}

static uint64_t options_flags(const Options *options) {
        uint64_t flags = 0;

        if (options->verb_options & VERB_OPTION_GROUP)
                flags |= VFIOD_FLAG_GROUP;
        if (options->verb_options & VERB_OPTION_DRY_RUN)
                flags |= VFIOD_FLAG_DRY_RUN;
        if (options->verb_options & VERB_OPTION_FORCE)
                flags |= VFIOD_FLAG_FORCE;
        if (options->verb_options & VERB_OPTION_PERSISTENT)
                flags |= VFIOD_FLAG_PERSISTENT;
        return flags;
}

static int verb_plan(const Options *options, const char *device, bool detach) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_client_ VfiodClient *client = NULL;
        _cleanup_(vfiod_plan_freep) VfiodPlan *plan = NULL;
        pid_t agent = 0;
        uint64_t flags = options_flags(options);
        bool dry_run = flags & VFIOD_FLAG_DRY_RUN;
        int r, ret;

        ret = client_open(&client);
        if (ret != 0)
                return ret;

        /* Interactive authorization unless --no-ask-password, as systemctl
         * does: a session's graphical agent may answer even without a
         * terminal.  Our own text agent only on a terminal, and only when a
         * prompt is possible at all: root and dry runs are never asked. */
        vfiod_client_set_allow_interactive_authorization(client, options->ask_password);
        if (options->ask_password && !dry_run && geteuid() != 0 && isatty(STDIN_FILENO))
                agent = polkit_agent_start(VFIOCTL_PKTTYAGENT); /* < 0: go on without */

        if (detach)
                r = vfiod_client_detach_device(client, device, flags, &plan, &error);
        else
                r = vfiod_client_reattach_device(client, device, flags, &plan, &error);

        polkit_agent_stop(agent);

        if (r < 0)
                return fail(&error, device);
        r = options->json ? json_plan(plan) : table_plan(plan, dry_run);
        return r < 0 ? fail_output(r) : EXIT_SUCCESS;
}

static int verb_detach(const Options *options, char **args, size_t n_args) {
        return verb_plan(options, args[0], true);
}

static int verb_reattach(const Options *options, char **args, size_t n_args) {
        return verb_plan(options, args[0], false);
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

static int verb_persistent(const Options *options, char **args, size_t n_args) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_assignment_list_freep) VfiodAssignmentList *list = NULL;
        _cleanup_client_ VfiodClient *client = NULL;
        int r, ret;

        ret = client_open(&client);
        if (ret != 0)
                return ret;
        r = vfiod_client_list_persistent_assignments(client, &list, &error);
        if (r < 0)
                return fail(&error, NULL);
        r = options->json ? json_assignments(list) : table_assignments(list);
        return r < 0 ? fail_output(r) : EXIT_SUCCESS;
}

/* ---- using a detached device ---------------------------------------- */

static int print_nodes(const VfiodNodeList *nodes, bool grant, bool json) {
        if (json) {
                JsonWriter w;
                json_writer_init(&w, stdout, out.tty);
                json_writer_begin_object(&w);
                json_writer_key(&w, "nodes");
                json_writer_begin_array(&w);
                for (size_t i = 0; i < nodes->n_nodes; i++) {
                        json_writer_begin_object(&w);
                        json_writer_key(&w, VFIOD_KEY_PATH);
                        json_writer_string(&w, nodes->nodes[i]->path);
                        json_writer_key(&w, VFIOD_KEY_UID);
                        json_writer_uint(&w, nodes->nodes[i]->uid);
                        json_writer_end_object(&w);
                }
                json_writer_end_array(&w);
                json_writer_end_object(&w);
                if (json_writer_finish(&w) < 0)
                        return -EIO;
        } else if (nodes->n_nodes == 0)
                printf("%s\n", grant ? "Nothing granted." : "Nothing to revoke.");
        else
                for (size_t i = 0; i < nodes->n_nodes; i++)
                        printf("%s uid %u access to %s\n", grant ? "granted" : "revoked",
                               (unsigned) nodes->nodes[i]->uid, nodes->nodes[i]->path);
        return fflush(stdout) != 0 ? -errno : 0;
}

/* The client, asking polkit interactively as verb_plan() does; *agent
 * is our text agent's pid (0: none). */
static int client_open_interactive(const Options *options, VfiodClient **client, pid_t *agent) {
        int ret = client_open(client);

        *agent = 0;
        if (ret != 0)
                return ret;
        vfiod_client_set_allow_interactive_authorization(*client, options->ask_password);
        if (options->ask_password && geteuid() != 0 && isatty(STDIN_FILENO))
                *agent = polkit_agent_start(VFIOCTL_PKTTYAGENT);
        return 0;
}

static int verb_access(const Options *options, const char *device, bool grant) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_client_ VfiodClient *client = NULL;
        _cleanup_(vfiod_node_list_freep) VfiodNodeList *nodes = NULL;
        pid_t agent;
        int r, ret;

        ret = client_open_interactive(options, &client, &agent);
        if (ret != 0)
                return ret;
        if (grant)
                r = vfiod_client_grant_access(client, device, 0, &nodes, &error);
        else
                r = vfiod_client_revoke_access(client, device, 0, &nodes, &error);
        polkit_agent_stop(agent);
        if (r < 0)
                return fail(&error, device);
        return print_nodes(nodes, grant, options->json) < 0 ? fail_output(-EIO) : EXIT_SUCCESS;
}

static int verb_grant(const Options *options, char **args, size_t n_args) {
        return verb_access(options, args[0], true);
}

static int verb_revoke(const Options *options, char **args, size_t n_args) {
        return verb_access(options, args[0], false);
}

/* run DEVICE... -- COMMAND [ARGS...]: detach, let this user use the
 * devices (ACL grants, or with --fd-env the groups' fds), raise our own
 * locked-memory limit (inherited across exec), then become COMMAND. */
static int verb_run(const Options *options, char **args, size_t n_args) {
        VfiodError error = VFIOD_ERROR_INIT;
        VfiodClient *client = NULL;
        size_t n_devices;
        char **command;
        pid_t agent;
        int r = 0, ret;

        /* options->dashdash counts the verb too */
        if (options->dashdash == SIZE_MAX || options->dashdash < 2 || options->dashdash - 1 >= n_args) {
                fprintf(stderr, "vfioctl: run needs devices, then -- and the command to run, e.g.\n"
                                "  vfioctl run --memlock 8G 03:00.0 -- qemu-system-x86_64 "
                                "-device vfio-pci,host=03:00.0 ...\n");
                return EXIT_USAGE;
        }
        n_devices = options->dashdash - 1;
        command = args + n_devices;

        ret = client_open_interactive(options, &client, &agent);
        if (ret != 0)
                return ret;

        for (size_t i = 0; i < n_devices && r >= 0; i++) {
                VfiodPlan *plan = NULL;
                const char *device = args[i];

                r = vfiod_client_detach_device(client, device, options_flags(options) & VFIOD_FLAG_GROUP,
                                               &plan, &error);
                vfiod_plan_free(plan);
                if (r >= 0 && (options->verb_options & VERB_OPTION_FD_ENV)) {
                        uint32_t group;
                        int fd;
                        char name[32], value[16];

                        r = vfiod_client_open_group(client, device, 0, &group, &fd, &error);
                        if (r == -EBUSY && vfiod_error_has_name(&error, VFIOD_ERROR_GROUP_BUSY)) {
                                /* a device of a group opened for an earlier one */
                                snprintf(name, sizeof(name), "VFIOD_GROUP_FD_%u", (unsigned) group);
                                if (getenv(name)) {
                                        vfiod_error_clear(&error);
                                        r = 0;
                                        continue;
                                }
                        }
                        if (r >= 0) {
                                /* the command inherits it */
                                (void) fcntl(fd, F_SETFD, 0);
                                snprintf(name, sizeof(name), "VFIOD_GROUP_FD_%u", (unsigned) group);
                                snprintf(value, sizeof(value), "%d", fd);
                                setenv(name, value, 1);
                        }
                } else if (r >= 0)
                        r = vfiod_client_grant_access(client, device, 0, NULL, &error);
                if (r < 0) {
                        ret = fail(&error, device);
                        goto finish;
                }
        }

        if (options->verb_options & VERB_OPTION_MEMLOCK) {
                int pidfd = (int) syscall(SYS_pidfd_open, getpid(), 0);
                if (pidfd < 0) {
                        fprintf(stderr, "vfioctl: cannot open a pidfd of itself: %s\n", strerror(errno));
                        ret = EXIT_REFUSED;
                        goto finish;
                }
                r = vfiod_client_set_locked_memory_limit(client, pidfd, options->memlock, &error);
                close(pidfd);
                if (r < 0) {
                        ret = fail(&error, NULL);
                        goto finish;
                }
        }

        polkit_agent_stop(agent);
        agent = 0;
        vfiod_client_free(client);
        client = NULL;
        fflush(NULL);
        execvp(command[0], command);
        fprintf(stderr, "vfioctl: cannot run %s: %s\n", command[0], strerror(errno));
        ret = errno == ENOENT ? 127 : 126;

finish:
        polkit_agent_stop(agent);
        vfiod_client_free(client);
        vfiod_error_clear(&error);
        return ret;
}

/* ---- monitor ------------------------------------------------------ */

typedef struct Monitor {
        bool json;
        int r; /* < 0: writing the output failed */
} Monitor;

static const char *const object_words[] = {
        [VFIOD_OBJECT_SERVICE] = "service",
        [VFIOD_OBJECT_DEVICE] = "device",
        [VFIOD_OBJECT_GROUP] = "group",
};

static const char *change_event(VfiodChangeKind kind) {
        switch (kind) {
        case VFIOD_CHANGE_ADDED: return "added";
        case VFIOD_CHANGE_REMOVED: return "removed";
        case VFIOD_CHANGE_SERVICE_STARTED: return "started";
        case VFIOD_CHANGE_SERVICE_STOPPED: return "stopped";
        case VFIOD_CHANGE_PROPERTY: break;
        }
        return NULL;
}

/* A value on a text line: "-" when empty, control characters (a newline
 * would break the one-line-per-change promise) as spaces. */
static void text_value(const VfiodValue *v) {
        const char *s = v && v->text ? v->text : "";

        if (!*s) {
                fputc('-', stdout);
                return;
        }
        for (; *s; s++)
                fputc((unsigned char) *s < 0x20 || *s == 0x7f ? ' ' : *s, stdout);
}

static void json_value(JsonWriter *w, const VfiodValue *v) {
        switch (v ? v->type : VFIOD_VALUE_NULL) {
        case VFIOD_VALUE_NULL: json_writer_null(w); break;
        case VFIOD_VALUE_STRING: json_writer_string(w, v->text); break;
        case VFIOD_VALUE_NUMBER: json_writer_uint(w, v->number); break;
        case VFIOD_VALUE_BOOLEAN: json_writer_bool(w, v->boolean); break;
        case VFIOD_VALUE_LIST:
                json_writer_begin_array(w);
                for (size_t i = 0; i < v->n_items; i++)
                        json_writer_string(w, v->items[i]);
                json_writer_end_array(w);
                break;
        case VFIOD_VALUE_NUMBER_LIST:
                json_writer_begin_array(w);
                for (size_t i = 0; i < v->n_items; i++)
                        json_writer_uint(w, v->numbers[i]);
                json_writer_end_array(w);
                break;
        }
}

static void monitor_print(VfiodWatch *watch, const VfiodChange *c, void *userdata) {
        Monitor *m = userdata;
        const char *event = change_event(c->kind);
        int r;

        if (m->r < 0)
                return;

        if (m->json) {
                JsonWriter w;

                json_writer_init(&w, stdout, false); /* one line per change */
                json_writer_begin_object(&w);
                json_writer_key(&w, "object");
                json_writer_string(&w, object_words[c->object]);
                json_writer_key(&w, "name");
                json_writer_string(&w, c->name);
                if (event) {
                        json_writer_key(&w, "event");
                        json_writer_string(&w, event);
                } else {
                        json_writer_key(&w, "property");
                        json_writer_string(&w, c->property);
                        json_writer_key(&w, "old");
                        json_value(&w, c->old_value);
                        json_writer_key(&w, "new");
                        json_value(&w, c->new_value);
                }
                json_writer_end_object(&w);
                r = json_writer_finish(&w);
        } else {
                printf("%s %s ", object_words[c->object], c->name);
                if (event)
                        fputs(event, stdout);
                else {
                        printf("%s: ", c->property);
                        text_value(c->old_value);
                        fputs(out.tty && out.utf8 ? " → " : " -> ", stdout);
                        text_value(c->new_value);
                }
                fputc('\n', stdout);
                r = fflush(stdout) != 0 || ferror(stdout) ? -(errno ? errno : EIO) : 0;
        }
        if (r < 0)
                m->r = r;
}

/* Milliseconds until an absolute CLOCK_MONOTONIC time, for poll(). */
static int poll_timeout_ms(uint64_t usec) {
        struct timespec ts;
        uint64_t now;

        if (usec == UINT64_MAX)
                return -1;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        now = (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000ULL;
        if (usec <= now)
                return 0;
        if ((usec - now) / 1000ULL >= (uint64_t) INT32_MAX)
                return INT32_MAX;
        return (int) ((usec - now + 999ULL) / 1000ULL);
}

static int verb_monitor(const Options *options, char **args, size_t n_args) {
        VfiodError error = VFIOD_ERROR_INIT;
        VfiodClient *client = NULL;
        VfiodWatch *watch = NULL;
        Monitor monitor = {.json = options->json};
        sigset_t mask;
        int sfd, r, ret;

        /* SIGINT and SIGTERM end the loop, read from a signalfd. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0 ||
            (sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
                fprintf(stderr, "vfioctl: cannot watch for signals: %s\n", strerror(errno));
                return EXIT_REFUSED;
        }

        ret = client_open(&client);
        if (ret != 0) {
                close(sfd);
                return ret;
        }

        r = vfiod_watch_new(client, monitor_print, &monitor, &watch, &error);
        if (r < 0) {
                ret = fail(&error, NULL);
                goto finish;
        }

        for (;;) {
                struct pollfd fds[2];
                uint64_t timeout;

                r = vfiod_watch_process(watch, &error);
                if (r < 0) {
                        ret = fail(&error, NULL);
                        break;
                }
                if (monitor.r < 0) {
                        ret = fail_output(monitor.r);
                        break;
                }

                r = vfiod_watch_get_fd(watch);
                if (r >= 0) {
                        fds[0] = (struct pollfd){.fd = r};
                        r = vfiod_watch_get_events(watch);
                }
                if (r >= 0) {
                        fds[0].events = (short) r;
                        r = vfiod_watch_get_timeout(watch, &timeout);
                }
                if (r < 0) {
                        fprintf(stderr, "vfioctl: lost the connection to the system bus: %s\n",
                                strerror(-r));
                        ret = EXIT_REFUSED;
                        break;
                }
                fds[1] = (struct pollfd){.fd = sfd, .events = POLLIN};

                r = poll(fds, 2, poll_timeout_ms(timeout));
                if (r < 0 && errno != EINTR) {
                        fprintf(stderr, "vfioctl: poll failed: %s\n", strerror(errno));
                        ret = EXIT_REFUSED;
                        break;
                }
                if (r > 0 && fds[1].revents) {
                        ret = EXIT_SUCCESS; /* interrupted: the normal end */
                        break;
                }
        }

finish:
        vfiod_watch_free(watch);
        vfiod_client_free(client);
        vfiod_error_clear(&error);
        close(sfd);
        return ret;
}

static int verb_help(const Options *options, char **args, size_t n_args);

static const Verb verbs[] = {
        {"list", NULL, "List every PCI device (the default)", 0, 0, 0, true, verb_list},
        {"group", "DEVICE", "List the devices of the IOMMU group of DEVICE", 1, 1, 0, false, verb_group},
        {"explain", "DEVICE",
         "Why DEVICE shares its IOMMU group, what would isolate it, how it can be reset", 1, 1, 0, false,
         verb_explain},
        {"detach", "DEVICE", "Bind DEVICE (with --group: its whole group) to vfio-pci", 1, 1,
         VERB_OPTION_GROUP | VERB_OPTION_DRY_RUN | VERB_OPTION_FORCE | VERB_OPTION_PERSISTENT, false,
         verb_detach},
        {"reattach", "DEVICE",
         "Give DEVICE (with --group: its group) back to the host, and "
         "forget its persistent assignment",
         1, 1, VERB_OPTION_GROUP | VERB_OPTION_DRY_RUN, false, verb_reattach},
        {"persistent", NULL,
         "List the persistent assignments and whether each still matches "
         "its device",
         0, 0, 0, false, verb_persistent},
        {"monitor", NULL, "Print each change of a device or group, until interrupted", 0, 0, 0, false,
         verb_monitor},
        {"grant", "DEVICE", "Let you open the IOMMU group of detached DEVICE by path (an ACL)", 1, 1, 0,
         false, verb_grant},
        {"revoke", "DEVICE", "Take back what grant gave on the group of DEVICE", 1, 1, 0, false,
         verb_revoke},
        {"run", "DEVICE... -- COMMAND [ARG...]",
         "Detach, grant (or with --fd-env pass the groups' fds) and raise the locked-memory "
         "limit, then run COMMAND",
         2, SIZE_MAX, VERB_OPTION_GROUP | VERB_OPTION_FD_ENV | VERB_OPTION_MEMLOCK, false, verb_run},
        {"help", NULL, "Show this help", 0, 0, 0, false, verb_help},
};

#define N_VERBS (sizeof(verbs) / sizeof(verbs[0]))

static void help_print(FILE *f) {
        fprintf(f, "vfioctl [OPTIONS...] COMMAND [DEVICE]\n"
                   "\n"
                   "Hand PCI devices to virtual machines through VFIO, one IOMMU group at a time,\n"
                   "with the vfiod service.\n"
                   "\n"
                   "Commands:\n");
        for (size_t i = 0; i < N_VERBS; i++) {
                char synopsis[128];
                int n = snprintf(synopsis, sizeof(synopsis), "%s", verbs[i].name);
                for (unsigned bit = 1; bit <= _VERB_OPTION_LAST; bit <<= 1)
                        if (verbs[i].verb_options & bit)
                                n += snprintf(synopsis + n, sizeof(synopsis) - (size_t) n, " [%s]",
                                              verb_option_name((VerbOption) bit));
                if (verbs[i].args)
                        snprintf(synopsis + n, sizeof(synopsis) - (size_t) n, " %s", verbs[i].args);
                if (strlen(synopsis) > 26)
                        fprintf(f, "  %s\n  %-26s  %s\n", synopsis, "", verbs[i].summary);
                else
                        fprintf(f, "  %-26s  %s\n", synopsis, verbs[i].summary);
        }
        fprintf(f, "\n"
                   "Options:\n"
                   "  -h --help             Show this help\n"
                   "     --version          Show the version of vfioctl and of the service\n"
                   "     --json             Print JSON, with the keys of the D-Bus dictionaries;\n"
                   "                        monitor: one object per line and change\n"
                   "     --no-ask-password  Never ask for a password: fail when the service\n"
                   "                        needs authentication\n"
                   "     --group            detach, reattach: every device of the IOMMU group\n"
                   "     --dry-run          detach, reattach: print the plan, change nothing\n"
                   "     --force            detach: even devices the host is using\n"
                   "     --persistent       detach: and at every boot, before any host driver, as\n"
                   "                        long as the device is still the one recorded\n"
                   "     --memlock SIZE     run: raise the locked-memory limit to SIZE (e.g. 8G;\n"
                   "                        at least the guest's memory)\n"
                   "     --fd-env           run: pass the groups' /dev/vfio fds to COMMAND, named\n"
                   "                        in VFIOD_GROUP_FD_<group>, instead of granting access\n"
                   "\n"
                   "DEVICE is a PCI address, dddd:bb:dd.f or bb:dd.f (domain 0000), e.g. 03:00.0.\n"
                   "\n"
                   "Exit status:\n"
                   "  0  success\n"
                   "  1  the service refused or failed (its message is printed), or is not\n"
                   "     reachable\n"
                   "  2  usage error: unknown command or option, missing or extra arguments\n");
}

static int verb_help(const Options *options, char **args, size_t n_args) {
        help_print(stdout);
        return EXIT_SUCCESS;
}

static int version_print(void) {
        VfiodClient *client = NULL;
        char *version = NULL;

        printf("vfioctl %s\n", VFIOD_VERSION);
        /* The service's version only when it answers; never an error. */
        if (vfiod_client_new(&client, NULL) >= 0 && vfiod_client_get_version(client, &version, NULL) >= 0)
                printf("vfiod %s\n", version);
        free(version);
        vfiod_client_free(client);
        return EXIT_SUCCESS;
}

int main(int argc, char *argv[]) {
        Options options;
        const Verb *verb;
        char *message = NULL;
        int r, ret;

        setlocale(LC_ALL, "");

        r = options_parse(argc, argv, &options, &message);
        if (r < 0) {
                fprintf(stderr, "vfioctl: %s\nTry 'vfioctl --help' for more information.\n",
                        message ? message : strerror(-r));
                free(message);
                return r == -EINVAL ? EXIT_USAGE : EXIT_REFUSED;
        }

        if (options.help) {
                help_print(stdout);
                options_clear(&options);
                return EXIT_SUCCESS;
        }
        if (options.version) {
                options_clear(&options);
                return version_print();
        }

        r = options_find_verb(&options, verbs, N_VERBS, &verb, &message);
        if (r < 0) {
                fprintf(stderr, "vfioctl: %s\nTry 'vfioctl --help' for more information.\n",
                        message ? message : strerror(-r));
                free(message);
                options_clear(&options);
                return EXIT_USAGE;
        }

        output_init();
        running_verb = verb->name;
        ret = verb->run(&options, options.n_args > 0 ? options.args + 1 : options.args,
                        options.n_args > 0 ? options.n_args - 1 : 0);

        options_clear(&options);
        return ret;
}

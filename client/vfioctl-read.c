/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfioctl-read.c: the verbs that only read, and need no authorization:
 * list, group, explain, monitor.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include "cleanup.h"
#include "vfioctl.h"

/* ---- devices ------------------------------------------------------ */

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

/* Below a group's table, each reason of each device in use on a line of
 * its own, whole (the table's column is cut to the terminal): what a
 * user must close, unmount or unplug before the group can go. */
static int print_in_use(const VfiodDeviceList *list) {
        bool header = false;

        for (size_t i = 0; i < list->n_devices; i++) {
                const VfiodDevice *d = list->devices[i];
                const char *p = d->in_use;
                bool first = true;

                if (!*p)
                        continue;
                if (!header)
                        printf("\nIn use:\n");
                header = true;
                while (*p) {
                        const char *end = strstr(p, "; ");
                        size_t len = end ? (size_t) (end - p) : strlen(p);

                        printf("  %-14s %.*s\n", first ? d->address : "", (int) len, p);
                        first = false;
                        p += len;
                        if (end)
                                p += 2;
                }
        }
        return fflush(stdout) != 0 ? -errno : 0;
}

/* ---- list, group, explain ------------------------------------------ */

int verb_list(Vfioctl *ctx, char **args, size_t n_args) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_device_list_freep) VfiodDeviceList *list = NULL;
        const Options *options = ctx->options;
        VfiodClient *client = ctx->client;
        int r;

        r = vfiod_client_list_devices(client, &list, &error);
        if (r < 0)
                return vfioctl_fail(ctx, &error, NULL);
        r = options->json ? json_devices(list, false, 0) : table_devices(list);
        return r < 0 ? vfioctl_fail_output(r) : EXIT_SUCCESS;
}

int verb_group(Vfioctl *ctx, char **args, size_t n_args) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_device_list_freep) VfiodDeviceList *list = NULL;
        _cleanup_(vfiod_explanation_freep) VfiodExplanation *why = NULL;
        const Options *options = ctx->options;
        VfiodClient *client = ctx->client;
        uint32_t group = 0;
        int r;

        r = vfiod_client_get_group(client, args[0], &group, &list, &error);
        if (r < 0)
                return vfioctl_fail(ctx, &error, args[0]);
        if (options->json) {
                r = json_devices(list, true, group);
                return r < 0 ? vfioctl_fail_output(r) : EXIT_SUCCESS;
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
        if (r >= 0)
                r = print_in_use(list);
        return r < 0 ? vfioctl_fail_output(r) : EXIT_SUCCESS;
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

int verb_explain(Vfioctl *ctx, char **args, size_t n_args) {
        _cleanup_error_ VfiodError error = VFIOD_ERROR_INIT;
        _cleanup_(vfiod_explanation_freep) VfiodExplanation *e = NULL;
        const Options *options = ctx->options;
        VfiodClient *client = ctx->client;
        int r;

        r = vfiod_client_explain_group(client, args[0], &e, &error);
        if (r < 0)
                return vfioctl_fail(ctx, &error, args[0]);
        if (options->json) {
                r = json_explanation(e);
                return r < 0 ? vfioctl_fail_output(r) : EXIT_SUCCESS;
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
                        fputs(output_arrow(), stdout);
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

int verb_monitor(Vfioctl *ctx, char **args, size_t n_args) {
        VfiodError error = VFIOD_ERROR_INIT;
        VfiodWatch *watch = NULL;
        Monitor monitor = {.json = ctx->options->json};
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

        r = vfiod_watch_new(ctx->client, monitor_print, &monitor, &watch, &error);
        if (r < 0) {
                ret = vfioctl_fail(ctx, &error, NULL);
                goto finish;
        }

        for (;;) {
                struct pollfd fds[2];
                uint64_t timeout;

                r = vfiod_watch_process(watch, &error);
                if (r < 0) {
                        ret = vfioctl_fail(ctx, &error, NULL);
                        break;
                }
                if (monitor.r < 0) {
                        ret = vfioctl_fail_output(monitor.r);
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
        vfiod_error_clear(&error);
        close(sfd);
        return ret;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod.c: libvfiod, the client of org.freedesktop.vfio1.Manager.
 *
 * A thin layer over sd-bus: one blocking call per function, replies turned
 * into plain structs (vfiod-reply.c), errors into negative errno plus the
 * service's error name and message.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cleanup.h"
#include "vfiod-private.h"

/* ---- errors ------------------------------------------------------- */

/* A fixed errno per service error, so that callers that only look at the
 * return value still get something meaningful; the name is the precise
 * answer.  Made from VFIOD_ERRORS, like the service's own map. */
static const struct {
        const char *name;
        int errnum;
} error_errnos[] = {
#define ERRNO_ENTRY(name, errnum) {name, errnum},
        VFIOD_ERRORS(ERRNO_ENTRY)
#undef ERRNO_ENTRY
};

int error_name_to_errno(const char *name) {
        if (!name)
                return 0;
        for (size_t i = 0; i < sizeof(error_errnos) / sizeof(error_errnos[0]); i++)
                if (strcmp(error_errnos[i].name, name) == 0)
                        return error_errnos[i].errnum;
        return 0;
}

VFIOD_EXPORT void vfiod_error_clear(VfiodError *error) {
        if (!error)
                return;
        free(error->name);
        free(error->message);
        error->name = NULL;
        error->message = NULL;
}

VFIOD_EXPORT bool vfiod_error_has_name(const VfiodError *error, const char *name) {
        return error && error->name && name && strcmp(error->name, name) == 0;
}

int error_set_local(VfiodError *error, int errnum, const char *format, ...) {
        if (error) {
                va_list ap;
                char *message;

                va_start(ap, format);
                message = format_message_v(format, ap);
                va_end(ap);

                vfiod_error_clear(error);
                error->message = message; /* NULL only when out of memory */
        }
        return -errnum;
}

int error_set_from_bus(VfiodError *error, const sd_bus_error *bus_error, int fallback) {
        const char *name = bus_error ? bus_error->name : NULL;
        int errnum;

        /* sd-bus reports its own failures (no connection, authentication
         * to the bus refused, ...) as "System.Error.<ERRNO>": those are
         * local, not an answer of the service. */
        if (!name || strncmp(name, "System.Error.", strlen("System.Error.")) == 0) {
                errnum = fallback < 0 ? -fallback : EIO;
                if (name && sd_bus_error_get_errno(bus_error) > 0)
                        errnum = sd_bus_error_get_errno(bus_error);
                return error_set_local(error, errnum,
                                       "Cannot talk to the vfio service on the system bus: %s",
                                       strerror(errnum));
        }

        errnum = error_name_to_errno(name);
        if (errnum == 0)
                errnum = sd_bus_error_get_errno(bus_error);
        if (errnum <= 0)
                errnum = fallback < 0 ? -fallback : EIO;

        if (error) {
                vfiod_error_clear(error);
                error->name = strdup(name);
                error->message =
                        strdup(bus_error->message && *bus_error->message ? bus_error->message : name);
        }
        return -errnum;
}

/* ---- the client --------------------------------------------------- */

VFIOD_EXPORT int vfiod_client_new(VfiodClient **ret, VfiodError *error) {
        VfiodClient *client;
        int r;

        if (!ret)
                return error_set_local(error, EINVAL, "No place for the client given");

        client = calloc(1, sizeof(*client));
        if (!client)
                return error_set_local(error, ENOMEM, "Out of memory");

        r = sd_bus_open_system(&client->bus);
        if (r < 0) {
                free(client);
                return error_set_local(error, -r, "Failed to connect to the system bus: %s", strerror(-r));
        }

        *ret = client;
        return 0;
}

VFIOD_EXPORT void vfiod_client_free(VfiodClient *client) {
        if (!client)
                return;
        sd_bus_flush_close_unref(client->bus);
        free(client);
}

VFIOD_EXPORT void vfiod_client_set_allow_interactive_authorization(VfiodClient *client, bool allow) {
        if (client)
                client->allow_interactive_authorization = allow;
}

VFIOD_EXPORT bool vfiod_client_get_allow_interactive_authorization(const VfiodClient *client) {
        return client && client->allow_interactive_authorization;
}

/* Calls a Manager method; on success *ret_reply is positioned at the first
 * out argument. */
static int client_call(VfiodClient *client, const char *method, uint64_t timeout_usec,
                       sd_bus_message **ret_reply, VfiodError *error, const char *types, ...) {
        sd_bus_message *m = NULL;
        sd_bus_error bus_error = SD_BUS_ERROR_NULL;
        va_list ap;
        int r;

        if (!client)
                return error_set_local(error, EINVAL, "No client given");

        r = sd_bus_message_new_method_call(client->bus, &m, VFIOD_DBUS_NAME, VFIOD_DBUS_PATH,
                                           VFIOD_DBUS_MANAGER_INTERFACE, method);
        if (r < 0)
                goto local_error;

        r = sd_bus_message_set_allow_interactive_authorization(m, client->allow_interactive_authorization);
        if (r < 0)
                goto local_error;

        if (types) {
                va_start(ap, types);
                r = sd_bus_message_appendv(m, types, ap);
                va_end(ap);
                if (r < 0)
                        goto local_error;
        }

        r = sd_bus_call(client->bus, m, timeout_usec, &bus_error, ret_reply);
        sd_bus_message_unref(m);
        if (r < 0) {
                r = error_set_from_bus(error, &bus_error, r);
                sd_bus_error_free(&bus_error);
                return r;
        }
        return 0;

local_error:
        sd_bus_message_unref(m);
        return error_set_local(error, -r, "Failed to call %s: %s", method, strerror(-r));
}

VFIOD_EXPORT int vfiod_client_get_version(VfiodClient *client, char **ret_version, VfiodError *error) {
        sd_bus_error bus_error = SD_BUS_ERROR_NULL;
        int r;

        if (!client || !ret_version)
                return error_set_local(error, EINVAL, "Invalid arguments");

        r = sd_bus_get_property_string(client->bus, VFIOD_DBUS_NAME, VFIOD_DBUS_PATH,
                                       VFIOD_DBUS_MANAGER_INTERFACE, VFIOD_PROPERTY_VERSION, &bus_error,
                                       ret_version);
        if (r < 0) {
                r = error_set_from_bus(error, &bus_error, r);
                sd_bus_error_free(&bus_error);
                return r;
        }
        return 0;
}

VFIOD_EXPORT int vfiod_client_get_group(VfiodClient *client, const char *device, uint32_t *ret_group,
                                        VfiodDeviceList **ret_devices, VfiodError *error) {
        sd_bus_message *reply = NULL;
        VfiodDeviceList *list = NULL;
        uint32_t group;
        int r;

        if (!device || !ret_devices)
                return error_set_local(error, EINVAL, "Invalid arguments");

        r = client_call(client, VFIOD_METHOD_GET_GROUP, 0, &reply, error, "s", device);
        if (r < 0)
                return r;

        r = sd_bus_message_read_basic(reply, SD_BUS_TYPE_UINT32, &group);
        if (r <= 0)
                r = error_set_local(error, EBADMSG,
                                    "Unexpected reply from the vfio service: no group number");
        else
                r = reply_read_device_list(reply, &list, error);
        sd_bus_message_unref(reply);
        if (r < 0)
                return r;

        if (ret_group)
                *ret_group = group;
        *ret_devices = list;
        return 0;
}

VFIOD_EXPORT int vfiod_client_list_devices(VfiodClient *client, VfiodDeviceList **ret_devices,
                                           VfiodError *error) {
        sd_bus_message *reply = NULL;
        int r;

        if (!ret_devices)
                return error_set_local(error, EINVAL, "Invalid arguments");

        r = client_call(client, VFIOD_METHOD_LIST_DEVICES, 0, &reply, error, NULL);
        if (r < 0)
                return r;

        r = reply_read_device_list(reply, ret_devices, error);
        sd_bus_message_unref(reply);
        return r;
}

VFIOD_EXPORT int vfiod_client_explain_group(VfiodClient *client, const char *device,
                                            VfiodExplanation **ret_explanation, VfiodError *error) {
        sd_bus_message *reply = NULL;
        int r;

        if (!device || !ret_explanation)
                return error_set_local(error, EINVAL, "Invalid arguments");

        r = client_call(client, VFIOD_METHOD_EXPLAIN_GROUP, 0, &reply, error, "s", device);
        if (r < 0)
                return r;
        r = reply_read_explanation(reply, ret_explanation, error);
        sd_bus_message_unref(reply);
        return r;
}

VFIOD_EXPORT int vfiod_client_list_persistent_assignments(VfiodClient *client,
                                                          VfiodAssignmentList **ret_assignments,
                                                          VfiodError *error) {
        sd_bus_message *reply = NULL;
        int r;

        if (!ret_assignments)
                return error_set_local(error, EINVAL, "Invalid arguments");

        r = client_call(client, VFIOD_METHOD_LIST_PERSISTENT, 0, &reply, error, NULL);
        if (r < 0)
                return r;

        r = reply_read_assignment_list(reply, ret_assignments, error);
        sd_bus_message_unref(reply);
        return r;
}

static int client_call_plan(VfiodClient *client, const char *method, const char *device, uint64_t flags,
                            VfiodPlan **ret_plan, VfiodError *error) {
        sd_bus_message *reply = NULL;
        VfiodPlan *plan = NULL;
        int r;

        if (!device)
                return error_set_local(error, EINVAL, "Invalid arguments");

        r = client_call(client, method, VFIOD_CLIENT_ACTION_TIMEOUT_USEC, &reply, error, "st", device,
                        flags);
        if (r < 0)
                return r;

        r = reply_read_plan(reply, &plan, error);
        sd_bus_message_unref(reply);
        if (r < 0)
                return r;

        if (ret_plan)
                *ret_plan = plan;
        else
                vfiod_plan_free(plan);
        return 0;
}

VFIOD_EXPORT int vfiod_client_detach_device(VfiodClient *client, const char *device, uint64_t flags,
                                            VfiodPlan **ret_plan, VfiodError *error) {
        return client_call_plan(client, VFIOD_METHOD_DETACH_DEVICE, device, flags, ret_plan, error);
}

VFIOD_EXPORT int vfiod_client_reattach_device(VfiodClient *client, const char *device, uint64_t flags,
                                              VfiodPlan **ret_plan, VfiodError *error) {
        return client_call_plan(client, VFIOD_METHOD_REATTACH_DEVICE, device, flags, ret_plan, error);
}

/* ---- using a detached device without root ------------------------- */

/* The fd of an 'h' in @reply, duplicated for the caller. */
static int reply_take_fd(sd_bus_message *reply, int *ret_fd, VfiodError *error) {
        int fd, r;

        r = sd_bus_message_read_basic(reply, SD_BUS_TYPE_UNIX_FD, &fd);
        if (r <= 0)
                return error_set_local(error, EBADMSG,
                                       "Unexpected reply from the vfio service: no file descriptor");
        /* the message owns its copy */
        fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
        if (fd < 0)
                return error_set_local(error, errno, "Cannot keep the file descriptor passed: %s",
                                       strerror(errno));
        *ret_fd = fd;
        return 0;
}

VFIOD_EXPORT int vfiod_client_open_group(VfiodClient *client, const char *device, uint64_t flags,
                                         uint32_t *ret_group, int *ret_fd, VfiodError *error) {
        sd_bus_message *reply = NULL;
        uint32_t group;
        int r;

        if (!device || !ret_fd)
                return error_set_local(error, EINVAL, "Invalid arguments");
        r = client_call(client, VFIOD_METHOD_OPEN_GROUP, VFIOD_CLIENT_ACTION_TIMEOUT_USEC, &reply, error,
                        "st", device, flags);
        if (r < 0)
                return r;
        r = sd_bus_message_read_basic(reply, SD_BUS_TYPE_UINT32, &group);
        if (r <= 0)
                r = error_set_local(error, EBADMSG,
                                    "Unexpected reply from the vfio service: no group number");
        else
                r = reply_take_fd(reply, ret_fd, error);
        sd_bus_message_unref(reply);
        if (r >= 0 && ret_group)
                *ret_group = group;
        return r < 0 ? r : 0;
}

VFIOD_EXPORT int vfiod_client_open_device(VfiodClient *client, const char *device, uint64_t flags,
                                          int *ret_fd, VfiodError *error) {
        sd_bus_message *reply = NULL;
        int r;

        if (!device || !ret_fd)
                return error_set_local(error, EINVAL, "Invalid arguments");
        r = client_call(client, VFIOD_METHOD_OPEN_DEVICE, VFIOD_CLIENT_ACTION_TIMEOUT_USEC, &reply, error,
                        "st", device, flags);
        if (r < 0)
                return r;
        r = reply_take_fd(reply, ret_fd, error);
        sd_bus_message_unref(reply);
        return r < 0 ? r : 0;
}

static int client_call_nodes(VfiodClient *client, const char *method, const char *device, uint64_t flags,
                             VfiodNodeList **ret_nodes, VfiodError *error) {
        sd_bus_message *reply = NULL;
        VfiodNodeList *nodes = NULL;
        int r;

        if (!device)
                return error_set_local(error, EINVAL, "Invalid arguments");
        r = client_call(client, method, VFIOD_CLIENT_ACTION_TIMEOUT_USEC, &reply, error, "st", device,
                        flags);
        if (r < 0)
                return r;
        r = reply_read_node_list(reply, &nodes, error);
        sd_bus_message_unref(reply);
        if (r < 0)
                return r;
        if (ret_nodes)
                *ret_nodes = nodes;
        else
                vfiod_node_list_free(nodes);
        return 0;
}

VFIOD_EXPORT int vfiod_client_grant_access(VfiodClient *client, const char *device, uint64_t flags,
                                           VfiodNodeList **ret_nodes, VfiodError *error) {
        return client_call_nodes(client, VFIOD_METHOD_GRANT_ACCESS, device, flags, ret_nodes, error);
}

VFIOD_EXPORT int vfiod_client_revoke_access(VfiodClient *client, const char *device, uint64_t flags,
                                            VfiodNodeList **ret_nodes, VfiodError *error) {
        return client_call_nodes(client, VFIOD_METHOD_REVOKE_ACCESS, device, flags, ret_nodes, error);
}

VFIOD_EXPORT int vfiod_client_set_locked_memory_limit(VfiodClient *client, int pidfd, uint64_t bytes,
                                                      VfiodError *error) {
        sd_bus_message *reply = NULL;
        int r;

        if (pidfd < 0)
                return error_set_local(error, EBADF, "Invalid arguments: no pidfd");
        /* 'h' sends a copy: the caller keeps its pidfd */
        r = client_call(client, VFIOD_METHOD_SET_LOCKED_MEMORY_LIMIT, VFIOD_CLIENT_ACTION_TIMEOUT_USEC,
                        &reply, error, "ht", pidfd, bytes);
        sd_bus_message_unref(reply);
        return r < 0 ? r : 0;
}

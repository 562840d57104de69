/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod.h: libvfiod, a small client of the vfiod system service
 * (org.freedesktop.vfio1 on the system bus).
 *
 * Conventions:
 *  - Every function that can fail returns 0 (or a positive value where
 *    documented) on success and a negative errno on failure.  When an
 *    error struct is passed, it is filled on failure: `name` is the D-Bus
 *    error name when the error came from the bus (one of the
 *    VFIOD_ERROR_* names of vfiod-names.h, or a standard
 *    org.freedesktop.DBus.Error.* name) and NULL for local errors;
 *    `message` is always set and is meant for humans.
 *  - The library allocates every struct it returns; free them with the
 *    matching *_free() function.  New fields may be appended to the
 *    structs in later versions, so never allocate or copy them by value.
 *  - Strings in returned structs are never NULL ("" when the service sent
 *    an empty string or did not send the key).
 *  - One VfiodClient must not be used from several threads at once.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bus names, error names, flags (VFIOD_FLAG_GROUP, VFIOD_FLAG_DRY_RUN,
 * VFIOD_FLAG_FORCE), dict keys, states and plan actions. */
#include "vfiod-names.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------- */

/* Standard D-Bus errors a vfiod caller should expect, besides the
 * VFIOD_ERROR_* names: bad flags, a polkit denial, and a polkit challenge
 * on a call made without interactive authorization. */
#define VFIOD_DBUS_ERROR_INVALID_ARGS "org.freedesktop.DBus.Error.InvalidArgs"
#define VFIOD_DBUS_ERROR_ACCESS_DENIED "org.freedesktop.DBus.Error.AccessDenied"
#define VFIOD_DBUS_ERROR_INTERACTIVE_AUTHORIZATION_REQUIRED \
        "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"

typedef struct VfiodError {
        char *name;     /* D-Bus error name, or NULL for a local error */
        char *message;  /* human-readable, set on every failure */
} VfiodError;

#define VFIOD_ERROR_INIT { NULL, NULL }

/* Frees name and message and resets both to NULL.  NULL is fine. */
void vfiod_error_clear(VfiodError *error);

/* True when the error is set and carries exactly this D-Bus error name. */
bool vfiod_error_has_name(const VfiodError *error, const char *name);

/* ---- devices ------------------------------------------------------ */

/* One device dictionary (see org.freedesktop.vfio1.Manager.xml). */
typedef struct VfiodDevice {
        char *address;                 /* "dddd:bb:dd.f" */
        bool has_group;                /* the "group" key was present */
        uint32_t group;                /* IOMMU group, valid if has_group */
        uint16_t vendor_id;
        uint16_t device_id;
        uint16_t subsystem_vendor_id;
        uint16_t subsystem_device_id;
        uint32_t class_code;           /* the "class" key, 0xCCSSPP */
        char *vendor;                  /* "" when unknown */
        char *name;                    /* "" when unknown */
        char *driver;                  /* "" when unbound */
        char *state;                   /* VFIOD_STATE_* (or a newer value) */
        bool bridge;
        char *in_use;                  /* "" or why the host needs it */
} VfiodDevice;

typedef struct VfiodDeviceList {
        size_t n_devices;
        VfiodDevice **devices;         /* in the service's order (address) */
} VfiodDeviceList;

void vfiod_device_list_free(VfiodDeviceList *list);

/* ---- plans (DetachDevice, ReattachDevice) ------------------------- */

typedef struct VfiodPlanEntry {
        char *address;
        char *action;                  /* VFIOD_ACTION_DETACH/REATTACH/KEEP */
        char *from;                    /* driver before, "" when unbound */
        char *to;                      /* driver after, "" when unbound */
        char *reason;                  /* why kept, "" otherwise */
} VfiodPlanEntry;

typedef struct VfiodPlan {
        size_t n_entries;
        VfiodPlanEntry **entries;      /* sorted by address */
} VfiodPlan;

void vfiod_plan_free(VfiodPlan *plan);

/* ---- the client --------------------------------------------------- */

typedef struct VfiodClient VfiodClient;

/* Connects to the system bus (DBUS_SYSTEM_BUS_ADDRESS is honoured).
 * The service itself is not contacted until the first call. */
int vfiod_client_new(VfiodClient **ret, VfiodError *error);
void vfiod_client_free(VfiodClient *client);

/* Marks every later method call with the D-Bus
 * allow-interactive-authorization flag: the service may then ask polkit
 * to authenticate the user (a polkit agent must be running for the
 * caller, e.g. pkttyagent).  Off by default: without it an action that
 * needs authentication fails with
 * org.freedesktop.DBus.Error.InteractiveAuthorizationRequired. */
void vfiod_client_set_allow_interactive_authorization(VfiodClient *client, bool allow);
bool vfiod_client_get_allow_interactive_authorization(const VfiodClient *client);

/* The service's Version property.  *ret_version is freed with free(). */
int vfiod_client_get_version(VfiodClient *client, char **ret_version, VfiodError *error);

/* GetGroup: every device of the IOMMU group of `device`. */
int vfiod_client_get_group(VfiodClient *client, const char *device,
                           uint32_t *ret_group, VfiodDeviceList **ret_devices,
                           VfiodError *error);

/* ListDevices: every PCI device. */
int vfiod_client_list_devices(VfiodClient *client, VfiodDeviceList **ret_devices,
                              VfiodError *error);

/* DetachDevice / ReattachDevice.  `flags` is a mask of VFIOD_FLAG_*,
 * passed as is (the service rejects unknown bits with InvalidArgs).  The
 * call waits up to VFIOD_CLIENT_ACTION_TIMEOUT_USEC: unbinding a driver
 * can take tens of seconds and interactive authorization minutes. */
#define VFIOD_CLIENT_ACTION_TIMEOUT_USEC (10ULL * 60ULL * 1000000ULL)

int vfiod_client_detach_device(VfiodClient *client, const char *device, uint64_t flags,
                               VfiodPlan **ret_plan, VfiodError *error);
int vfiod_client_reattach_device(VfiodClient *client, const char *device, uint64_t flags,
                                 VfiodPlan **ret_plan, VfiodError *error);

#ifdef __cplusplus
}
#endif

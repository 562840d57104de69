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
 * VFIOD_FLAG_FORCE, VFIOD_FLAG_PERSISTENT), dict keys, states and plan
 * actions. */
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
        char *name;    /* D-Bus error name, or NULL for a local error */
        char *message; /* human-readable, set on every failure */
} VfiodError;

#define VFIOD_ERROR_INIT \
        { NULL, NULL }

/* Frees name and message and resets both to NULL.  NULL is fine. */
void vfiod_error_clear(VfiodError *error);

/* True when the error is set and carries exactly this D-Bus error name. */
bool vfiod_error_has_name(const VfiodError *error, const char *name);

/* ---- devices ------------------------------------------------------ */

/* One device dictionary (see org.freedesktop.vfio1.Manager.xml). */
typedef struct VfiodDevice {
        char *address;  /* "dddd:bb:dd.f" */
        bool has_group; /* the "group" key was present */
        uint32_t group; /* IOMMU group, valid if has_group */
        uint16_t vendor_id;
        uint16_t device_id;
        uint16_t subsystem_vendor_id;
        uint16_t subsystem_device_id;
        uint32_t class_code; /* the "class" key, 0xCCSSPP */
        char *vendor;        /* "" when unknown */
        char *name;          /* "" when unknown */
        char *driver;        /* "" when unbound */
        char *state;         /* VFIOD_STATE_* (or a newer value) */
        bool bridge;
        char *in_use;           /* "" or why the host needs it */
        size_t n_granted_uids;  /* users GrantAccess let open its group's */
        uint32_t *granted_uids; /*   /dev/vfio/N by path (0 and NULL: none,
                                        *   the key was absent) */
        char *persistent;       /* its persistent assignment: "" none,
                                        * VFIOD_PERSISTENT_ACTIVE, or
                                        * VFIOD_PERSISTENT_MISMATCH "what differs" */
        size_t n_reset_methods; /* how the kernel can reset it, strongest */
        char **reset_methods;   /*   first (VFIOD_RESET_*...); NULL-terminated,
                                        *   empty when it cannot be (or an older
                                        *   service did not say) */
        bool has_reset_methods; /* the service said ("reset_methods" present) */
        bool has_owner_uid;     /* the service knows who detached it ... */
        uint32_t owner_uid;     /*   ... this uid (DetachDevice's caller,
                                        *   in this boot): using its group as
                                        *   another uid needs use-device-other */
} VfiodDevice;

typedef struct VfiodDeviceList {
        size_t n_devices;
        VfiodDevice **devices; /* in the service's order (address) */
} VfiodDeviceList;

void vfiod_device_list_free(VfiodDeviceList *list);

/* ---- the dictionaries, key by key ---------------------------------- */

/* One key of a dictionary as the service sent it, typed: for printing
 * every key (vfioctl --json) without knowing them all. */
typedef enum VfiodFieldType {
        VFIOD_FIELD_STRING,      /* s */
        VFIOD_FIELD_NUMBER,      /* q u */
        VFIOD_FIELD_BOOLEAN,     /* b */
        VFIOD_FIELD_NUMBER_LIST, /* au */
        VFIOD_FIELD_STRING_LIST, /* as */
} VfiodFieldType;

typedef struct VfiodField {
        const char *key; /* VFIOD_KEY_* */
        VfiodFieldType type;
        const char *string;
        uint64_t number;
        bool boolean;
        size_t n_items; /* the lists' length */
        const uint32_t *numbers;
        char *const *strings;
        /* The same, in the value model of the live model's properties
         * (VfiodValue, below): one printer serves both. */
        const struct VfiodValue *value;
} VfiodField;

/* Called once per key, valid during the call only. */
typedef void (*VfiodFieldFunc)(const VfiodField *field, void *userdata);

/* ---- why grouped (ExplainGroup) --------------------------------- */

/* A root or switch downstream port below which a device gets an IOMMU
 * group of its own (its path to the root has ACS). */
typedef struct VfiodIsolatingSlot {
        char *port;         /* the port's address */
        char *slot;         /* the slot's name in /sys/bus/pci/slots, "" when none */
        size_t n_occupants; /* the devices behind it now, 0: free */
        char **occupants;   /*   NULL-terminated */
} VfiodIsolatingSlot;

/* Why a device shares its group (see ExplainGroup in the Manager XML). */
typedef struct VfiodExplanation {
        uint32_t group;
        char *cause;         /* VFIOD_CAUSE_* (or a newer value) */
        char *cause_device;  /* "" for isolated and unknown */
        char *explanation;   /* sentences for people */
        char *advice;        /* what would isolate it */
        char *reset_warning; /* "" or why its reset is a problem */
        size_t n_reset_methods;
        char **reset_methods; /* NULL-terminated, VFIOD_RESET_*... */
        size_t n_isolating_slots;
        VfiodIsolatingSlot **isolating_slots;
} VfiodExplanation;

void vfiod_explanation_free(VfiodExplanation *explanation);

/* The explanation's keys, typed, in the contract's order ("isolating_slots"
 * is left out: see vfiod_isolating_slot_foreach_field()). */
void vfiod_explanation_foreach_field(const VfiodExplanation *explanation, VfiodFieldFunc func,
                                     void *userdata);
void vfiod_isolating_slot_foreach_field(const VfiodIsolatingSlot *slot, VfiodFieldFunc func, void *userdata);

/* ---- persistent assignments (ListPersistentAssignments) ----------- */

/* One record of DetachDevice with VFIOD_FLAG_PERSISTENT. */
typedef struct VfiodAssignment {
        char *address;    /* "dddd:bb:dd.f" */
        char *record;     /* its file, e.g. /etc/vfiod/persistent/<address>.conf */
        char *persistent; /* the check now: VFIOD_PERSISTENT_ACTIVE, or
                                        * VFIOD_PERSISTENT_MISMATCH "what differs" */
        bool has_ids;     /* the record was readable: what follows is set */
        uint16_t vendor_id;
        uint16_t device_id;
        uint16_t subsystem_vendor_id;
        uint16_t subsystem_device_id;
        uint32_t class_code;
        size_t n_members; /* its IOMMU group when recorded */
        char **members;   /*   (NULL-terminated; NULL when 0) */
        char *driver;     /* the driver of the device there now, "" when
                                        * unbound or gone */
} VfiodAssignment;

typedef struct VfiodAssignmentList {
        size_t n_assignments;
        VfiodAssignment **assignments; /* by address */
} VfiodAssignmentList;

void vfiod_assignment_list_free(VfiodAssignmentList *list);

/* Each key of a device (plan entry, assignment) dictionary that the
 * service sent, in the contract's order: the keys it leaves out when empty
 * ("group" without a group, "granted_uids", "persistent"...) are left out
 * here too. */
void vfiod_device_foreach_field(const VfiodDevice *device, VfiodFieldFunc func, void *userdata);
void vfiod_assignment_foreach_field(const VfiodAssignment *assignment, VfiodFieldFunc func, void *userdata);

/* ---- plans (DetachDevice, ReattachDevice) ------------------------- */

typedef struct VfiodPlanEntry {
        char *address;
        char *action; /* VFIOD_ACTION_DETACH/REATTACH/KEEP */
        char *from;   /* driver before, "" when unbound */
        char *to;     /* driver after, "" when unbound */
        char *reason; /* why kept, "" otherwise */
} VfiodPlanEntry;

typedef struct VfiodPlan {
        size_t n_entries;
        VfiodPlanEntry **entries; /* sorted by address */
} VfiodPlan;

void vfiod_plan_free(VfiodPlan *plan);
void vfiod_plan_entry_foreach_field(const VfiodPlanEntry *entry, VfiodFieldFunc func, void *userdata);

/* ---- nodes (GrantAccess, RevokeAccess) ---------------------------- */

typedef struct VfiodNode {
        char *path;   /* "/dev/vfio/12", "/dev/vfio/devices/vfio3" */
        uint32_t uid; /* whose ACL entry */
} VfiodNode;

typedef struct VfiodNodeList {
        size_t n_nodes;
        VfiodNode **nodes;
} VfiodNodeList;

void vfiod_node_list_free(VfiodNodeList *list);
void vfiod_node_foreach_field(const VfiodNode *node, VfiodFieldFunc func, void *userdata);

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
int vfiod_client_get_group(VfiodClient *client, const char *device, uint32_t *ret_group,
                           VfiodDeviceList **ret_devices, VfiodError *error);

/* ListDevices: every PCI device. */
int vfiod_client_list_devices(VfiodClient *client, VfiodDeviceList **ret_devices, VfiodError *error);

/* DetachDevice / ReattachDevice.  `flags` is a mask of VFIOD_FLAG_*,
 * passed as is (the service rejects unknown bits with InvalidArgs).  The
 * call waits up to VFIOD_CLIENT_ACTION_TIMEOUT_USEC: unbinding a driver
 * can take tens of seconds and interactive authorization minutes. */
#define VFIOD_CLIENT_ACTION_TIMEOUT_USEC (10ULL * 60ULL * 1000000ULL)

int vfiod_client_detach_device(VfiodClient *client, const char *device, uint64_t flags, VfiodPlan **ret_plan,
                               VfiodError *error);
int vfiod_client_reattach_device(VfiodClient *client, const char *device, uint64_t flags,
                                 VfiodPlan **ret_plan, VfiodError *error);

/* ExplainGroup: why @device shares its IOMMU group, what would isolate
 * it, and whether its reset reaches other groups.  No authorization. */
int vfiod_client_explain_group(VfiodClient *client, const char *device, VfiodExplanation **ret_explanation,
                               VfiodError *error);

/* ListPersistentAssignments: every persistent assignment, checked
 * against the device now at its address.  No authorization needed. */
int vfiod_client_list_persistent_assignments(VfiodClient *client, VfiodAssignmentList **ret_assignments,
                                             VfiodError *error);

/* ---- watching the live model --------------------------------------- */

/* The service publishes every device and IOMMU group as an object (see
 * "Live model" in vfiod-names.h).  A VfiodWatch follows those objects
 * without blocking: it subscribes to their signals, loads them once
 * (GetManagedObjects) so that every change can be told as old -> new, and
 * calls a function for each change.  It is driven by any main loop:
 *
 *     poll on vfiod_watch_get_fd() for vfiod_watch_get_events(), at most
 *     until vfiod_watch_get_timeout(); then vfiod_watch_process().
 *
 * Ask for the events and the timeout again before every poll: they change
 * (a message already read from the socket makes the timeout 0). */

typedef enum VfiodChangeKind {
        VFIOD_CHANGE_ADDED,           /* an object appeared */
        VFIOD_CHANGE_REMOVED,         /* an object went */
        VFIOD_CHANGE_PROPERTY,        /* a property changed value */
        VFIOD_CHANGE_SERVICE_STARTED, /* the service appeared on the bus */
        VFIOD_CHANGE_SERVICE_STOPPED, /* the service left the bus */
} VfiodChangeKind;

typedef enum VfiodObjectKind {
        VFIOD_OBJECT_SERVICE, /* the service itself (SERVICE_* changes) */
        VFIOD_OBJECT_DEVICE,  /* org.freedesktop.vfio1.Device */
        VFIOD_OBJECT_GROUP,   /* org.freedesktop.vfio1.Group */
} VfiodObjectKind;

typedef enum VfiodValueType {
        VFIOD_VALUE_NULL,        /* nothing: Group "/" (no IOMMU group) */
        VFIOD_VALUE_STRING,      /* s */
        VFIOD_VALUE_NUMBER,      /* y q u t; a device's Group: the group number */
        VFIOD_VALUE_BOOLEAN,     /* b */
        VFIOD_VALUE_LIST,        /* ao: the short names of the objects; as */
        VFIOD_VALUE_NUMBER_LIST, /* au (dictionaries only, see VfiodField) */
} VfiodValueType;

/* A property value, typed for JSON and as text for people. */
typedef struct VfiodValue {
        VfiodValueType type;
        char *text;        /* never NULL: the string; a number in decimal
                                         * (ids and Class as 0x%04x / 0x%06x);
                                         * "true"/"false"; the list's names separated by
                                         * one space; "" for NULL */
        uint64_t number;   /* VFIOD_VALUE_NUMBER */
        bool boolean;      /* VFIOD_VALUE_BOOLEAN */
        size_t n_items;    /* VFIOD_VALUE_LIST, VFIOD_VALUE_NUMBER_LIST */
        char **items;      /* VFIOD_VALUE_LIST: e.g. "0000:03:00.0"
                                         * (NULL-terminated) */
        uint32_t *numbers; /* VFIOD_VALUE_NUMBER_LIST */
} VfiodValue;

/* One change, valid only during the call of the VfiodChangeFunc. */
typedef struct VfiodChange {
        VfiodChangeKind kind;
        VfiodObjectKind object;
        const char *path;            /* the object path (VFIOD_DBUS_PATH for the
                                         * service) */
        const char *name;            /* short name: "0000:03:00.0", "12", or
                                         * VFIOD_DBUS_NAME for the service */
        const char *property;        /* VFIOD_CHANGE_PROPERTY: VFIOD_PROP_*; else NULL */
        const VfiodValue *old_value; /* VFIOD_CHANGE_PROPERTY: before; else NULL */
        const VfiodValue *new_value; /* VFIOD_CHANGE_PROPERTY: now; else NULL */
} VfiodChange;

typedef struct VfiodWatch VfiodWatch;

/* Called once per change, from vfiod_watch_process() only.  It must not
 * free the watch; it may call anything else of libvfiod. */
typedef void (*VfiodChangeFunc)(VfiodWatch *watch, const VfiodChange *change, void *userdata);

/* Subscribes to the live model's signals (PropertiesChanged of the
 * objects under VFIOD_DBUS_PATH, InterfacesAdded, InterfacesRemoved, and
 * the owner of VFIOD_DBUS_NAME) and loads the current objects; blocks
 * until both are done, like the other calls.  A service that is not
 * running is not an error: its objects are loaded when it appears.
 *
 * One change is reported per property whose value differs (a signal that
 * repeats a known value reports nothing), per object added or removed.
 * When the service stops, VFIOD_CHANGE_SERVICE_STOPPED is reported and
 * the last known objects are kept; when it starts again,
 * VFIOD_CHANGE_SERVICE_STARTED, then the differences between the last
 * known objects and the new ones, as added/removed/property changes.
 * Properties of a type the contract does not use are ignored.
 *
 * The watch uses the client's bus connection: free it before the client.
 * The client's blocking calls work meanwhile; signals they read wait for
 * the next vfiod_watch_process(). */
int vfiod_watch_new(VfiodClient *client, VfiodChangeFunc callback, void *userdata, VfiodWatch **ret,
                    VfiodError *error);

/* Ends the subscriptions.  NULL is fine. */
void vfiod_watch_free(VfiodWatch *watch);

/* The file descriptor to poll, and the poll events to wait for on it
 * (POLLIN, and POLLOUT while something waits to be sent); <0 on error. */
int vfiod_watch_get_fd(VfiodWatch *watch);
int vfiod_watch_get_events(VfiodWatch *watch);

/* When to call vfiod_watch_process() even if the fd stays quiet: an
 * absolute CLOCK_MONOTONIC time in microseconds, 0 for "now", UINT64_MAX
 * for "no timeout".  Returns 0 or a negative errno. */
int vfiod_watch_get_timeout(VfiodWatch *watch, uint64_t *ret_usec);

/* Reads and dispatches everything pending, calling the VfiodChangeFunc
 * for each change, without blocking.  Returns 1 when it did something, 0
 * when there was nothing to do, a negative errno when the bus connection
 * failed (the watch is then useless: free it). */
int vfiod_watch_process(VfiodWatch *watch, VfiodError *error);

/* Whether the service is on the bus, as far as the watch knows. */
bool vfiod_watch_service_running(const VfiodWatch *watch);

/* The last known value of property of the object at path (e.g. to show
 * an object just added), or NULL.  Valid until the next
 * vfiod_watch_process() or vfiod_watch_free(). */
const VfiodValue *vfiod_watch_get_value(const VfiodWatch *watch, const char *path, const char *property);

/* ---- using a detached device without root ------------------------- */
/* Each needs the device on vfio-pci and its IOMMU group viable (else
 * VFIOD_ERROR_NOT_DETACHED / VFIOD_ERROR_GROUP_NOT_VIABLE), and polkit's
 * org.freedesktop.vfio1.use-device (lock-memory for the last).  `flags`:
 * none defined yet, pass 0.  They wait up to
 * VFIOD_CLIENT_ACTION_TIMEOUT_USEC (authorization may show a dialog). */

/* OpenGroup: the group's /dev/vfio/N, opened read-write by the service.
 * *ret_fd is the caller's (close-on-exec; close it when done; it is the
 * group: the kernel lets one process have it, VFIOD_ERROR_GROUP_BUSY
 * says another has). */
int vfiod_client_open_group(VfiodClient *client, const char *device, uint64_t flags, uint32_t *ret_group,
                            int *ret_fd, VfiodError *error);

/* OpenDevice: the device's VFIO cdev (/dev/vfio/devices/vfioN), for
 * iommufd-based VMMs; VFIOD_ERROR_NOT_SUPPORTED when the kernel has none.
 * *ret_fd is the caller's, as for vfiod_client_open_group(). */
int vfiod_client_open_device(VfiodClient *client, const char *device, uint64_t flags, int *ret_fd,
                             VfiodError *error);

/* GrantAccess: an ACL entry for the caller's uid on the group's nodes,
 * for VMMs that open paths themselves; *ret_nodes (may be NULL: not
 * returned) lists them.  RevokeAccess takes the caller's back (uid 0:
 * everybody's); an empty list when there were none. */
int vfiod_client_grant_access(VfiodClient *client, const char *device, uint64_t flags,
                              VfiodNodeList **ret_nodes, VfiodError *error);
int vfiod_client_revoke_access(VfiodClient *client, const char *device, uint64_t flags,
                               VfiodNodeList **ret_nodes, VfiodError *error);

/* SetLockedMemoryLimit: raises RLIMIT_MEMLOCK (soft and hard) of the
 * process `pidfd` refers to (pidfd_open(2); it must run as the caller)
 * to `bytes`; never lowers it.  `pidfd` stays the caller's: the library
 * passes a copy. */
int vfiod_client_set_locked_memory_limit(VfiodClient *client, int pidfd, uint64_t bytes, VfiodError *error);

#ifdef __cplusplus
}
#endif

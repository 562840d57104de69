/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * vfiod-names.h: every name vfiod uses, in one place.
 *
 * The bus contract (bus name, object path, interfaces, methods, errors,
 * flags, dict keys and values, polkit action ids), shared by the service,
 * the client library, the CLI and the tests, and installed with libvfiod.
 * The names of the kernel's files and of the service's own are private
 * to the service (service/kernel-names.h, service/service-names.h).
 */
#pragma once

/* ---- bus ---------------------------------------------------------- */
#define VFIOD_DBUS_NAME              "org.freedesktop.vfio1"
#define VFIOD_DBUS_PATH              "/org/freedesktop/vfio1"
#define VFIOD_DBUS_MANAGER_INTERFACE "org.freedesktop.vfio1.Manager"

/* ---- methods and properties of the Manager ------------------------- */
#define VFIOD_METHOD_GET_GROUP       "GetGroup"
#define VFIOD_METHOD_LIST_DEVICES    "ListDevices"
#define VFIOD_METHOD_DETACH_DEVICE   "DetachDevice"
#define VFIOD_METHOD_REATTACH_DEVICE "ReattachDevice"
#define VFIOD_PROPERTY_VERSION       "Version"
/* using a detached device without root (see the Manager XML) */
#define VFIOD_METHOD_OPEN_GROUP              "OpenGroup"
#define VFIOD_METHOD_OPEN_DEVICE             "OpenDevice"
#define VFIOD_METHOD_GRANT_ACCESS            "GrantAccess"
#define VFIOD_METHOD_REVOKE_ACCESS           "RevokeAccess"
#define VFIOD_METHOD_SET_LOCKED_MEMORY_LIMIT "SetLockedMemoryLimit"
/* Persistent assignments (DetachDevice with PERSISTENT). */
#define VFIOD_METHOD_LIST_PERSISTENT "ListPersistentAssignments"
/* Why a device shares its IOMMU group (no authorization needed). */
#define VFIOD_METHOD_EXPLAIN_GROUP "ExplainGroup"

/* ---- Live model --------------------------------------------------- */
/* The service's objects, published through org.freedesktop.DBus.ObjectManager
 * at VFIOD_DBUS_PATH: one object per PCI device at
 * VFIOD_DBUS_DEVICE_PATH_PREFIX "/<address with ':' and '.' as '_'>"
 * (e.g. .../device/0000_03_00_0) and one per IOMMU group at
 * VFIOD_DBUS_GROUP_PATH_PREFIX "/<N>".  Read-only properties, each
 * announced with PropertiesChanged (values included) when it changes. */
#define VFIOD_DBUS_DEVICE_INTERFACE   "org.freedesktop.vfio1.Device"
#define VFIOD_DBUS_GROUP_INTERFACE    "org.freedesktop.vfio1.Group"
#define VFIOD_DBUS_DEVICE_PATH_PREFIX VFIOD_DBUS_PATH "/device"
#define VFIOD_DBUS_GROUP_PATH_PREFIX  VFIOD_DBUS_PATH "/group"
#define VFIOD_DBUS_NO_GROUP_PATH      "/" /* Device.Group of a device without one */
/* Properties of a Device. */
#define VFIOD_PROP_ADDRESS             "Address"           /* s */
#define VFIOD_PROP_GROUP               "Group"             /* o, "/" without a group */
#define VFIOD_PROP_VENDOR_ID           "VendorId"          /* q */
#define VFIOD_PROP_DEVICE_ID           "DeviceId"          /* q */
#define VFIOD_PROP_SUBSYSTEM_VENDOR_ID "SubsystemVendorId" /* q */
#define VFIOD_PROP_SUBSYSTEM_DEVICE_ID "SubsystemDeviceId" /* q */
#define VFIOD_PROP_CLASS               "Class"             /* u */
#define VFIOD_PROP_VENDOR              "Vendor"            /* s */
#define VFIOD_PROP_NAME                "Name"              /* s */
#define VFIOD_PROP_DRIVER              "Driver"            /* s */
#define VFIOD_PROP_STATE               "State"             /* s */
#define VFIOD_PROP_BRIDGE              "Bridge"            /* b */
#define VFIOD_PROP_PERSISTENT          "Persistent"        /* s, as the key "persistent" */
#define VFIOD_PROP_RESET_METHODS       "ResetMethods"      /* as, as the key "reset_methods" */
#define VFIOD_PROP_OWNER_UID           "OwnerUid"          /* u, as "owner_uid", or: */
#define VFIOD_OWNER_UID_NONE           4294967295u         /* (uid_t) -1: nobody vfiod knows of */
/* Properties of a Group. */
#define VFIOD_PROP_NUMBER       "Number"      /* u */
#define VFIOD_PROP_DEVICES      "Devices"     /* ao, sorted by address */
#define VFIOD_PROP_VIABLE       "Viable"      /* b */
#define VFIOD_PROP_CAUSE        "Cause"       /* s, a VFIOD_CAUSE_* */
#define VFIOD_PROP_CAUSE_DEVICE "CauseDevice" /* s, an address or "" */
#define VFIOD_PROP_EXPLANATION  "Explanation" /* s, for people */
/* Of both. */
#define VFIOD_PROP_IN_USE "InUse" /* s */

/* ---- errors ------------------------------------------------------- */
#define VFIOD_ERROR_PREFIX           "org.freedesktop.vfio1.Error."
#define VFIOD_ERROR_INVALID_ADDRESS  VFIOD_ERROR_PREFIX "InvalidAddress"
#define VFIOD_ERROR_NO_SUCH_DEVICE   VFIOD_ERROR_PREFIX "NoSuchDevice"
#define VFIOD_ERROR_NO_IOMMU_GROUP   VFIOD_ERROR_PREFIX "NoIommuGroup"
#define VFIOD_ERROR_FAILED           VFIOD_ERROR_PREFIX "Failed"
#define VFIOD_ERROR_NOT_ASSIGNABLE   VFIOD_ERROR_PREFIX "NotAssignable"
#define VFIOD_ERROR_GROUP_NOT_VIABLE VFIOD_ERROR_PREFIX "GroupNotViable"
#define VFIOD_ERROR_DEVICE_IN_USE    VFIOD_ERROR_PREFIX "DeviceInUse"
#define VFIOD_ERROR_NOT_DETACHED     VFIOD_ERROR_PREFIX "NotDetached"
#define VFIOD_ERROR_GROUP_BUSY       VFIOD_ERROR_PREFIX "GroupBusy"
#define VFIOD_ERROR_VFIO_UNAVAILABLE VFIOD_ERROR_PREFIX "VfioUnavailable"
#define VFIOD_ERROR_SHUTTING_DOWN    VFIOD_ERROR_PREFIX "ShuttingDown"
#define VFIOD_ERROR_TIMED_OUT        VFIOD_ERROR_PREFIX "TimedOut"
#define VFIOD_ERROR_NOT_SUPPORTED    VFIOD_ERROR_PREFIX "NotSupported"

/* The errno each error stands for, for callers that only look at a return
 * value: X(name, errno).  The service's sd-bus error map and the client
 * library's table are both made from this list (needs <errno.h>). */
#define VFIOD_ERRORS(X)                      \
  X (VFIOD_ERROR_INVALID_ADDRESS, EINVAL)    \
  X (VFIOD_ERROR_NO_SUCH_DEVICE, ENODEV)     \
  X (VFIOD_ERROR_NO_IOMMU_GROUP, ENXIO)      \
  X (VFIOD_ERROR_FAILED, EIO)                \
  X (VFIOD_ERROR_NOT_ASSIGNABLE, EOPNOTSUPP) \
  X (VFIOD_ERROR_GROUP_NOT_VIABLE, EBUSY)    \
  X (VFIOD_ERROR_DEVICE_IN_USE, EBUSY)       \
  X (VFIOD_ERROR_NOT_DETACHED, EALREADY)     \
  X (VFIOD_ERROR_GROUP_BUSY, EBUSY)          \
  X (VFIOD_ERROR_VFIO_UNAVAILABLE, ENOPKG)   \
  X (VFIOD_ERROR_SHUTTING_DOWN, ESHUTDOWN)   \
  X (VFIOD_ERROR_TIMED_OUT, ETIMEDOUT)       \
  X (VFIOD_ERROR_NOT_SUPPORTED, ENOTSUP)

/* ---- method flags (DetachDevice / ReattachDevice) ----------------- */
#define VFIOD_FLAG_GROUP      0x1ULL /* act on every device of the IOMMU group */
#define VFIOD_FLAG_DRY_RUN    0x2ULL /* only compute and return the plan */
#define VFIOD_FLAG_FORCE      0x4ULL /* DetachDevice: move devices the host uses */
#define VFIOD_FLAG_PERSISTENT 0x8ULL /* DetachDevice: also bind them at every boot */
#define VFIOD_DETACH_FLAGS_ALL \
  (VFIOD_FLAG_GROUP | VFIOD_FLAG_DRY_RUN | VFIOD_FLAG_FORCE | VFIOD_FLAG_PERSISTENT)
#define VFIOD_REATTACH_FLAGS_ALL (VFIOD_FLAG_GROUP | VFIOD_FLAG_DRY_RUN)

/* ---- polkit actions and their details ----------------------------- */
#define VFIOD_ACTION_DETACH_DEVICE     "org.freedesktop.vfio1.detach-device"
#define VFIOD_ACTION_DETACH_GROUP      "org.freedesktop.vfio1.detach-group"
#define VFIOD_ACTION_REATTACH_DEVICE   "org.freedesktop.vfio1.reattach-device"
#define VFIOD_ACTION_REATTACH_GROUP    "org.freedesktop.vfio1.reattach-group"
#define VFIOD_ACTION_DETACH_IN_USE     "org.freedesktop.vfio1.detach-in-use"
#define VFIOD_ACTION_DETACH_PERSISTENT "org.freedesktop.vfio1.detach-persistent"
#define VFIOD_ACTION_USE_DEVICE        "org.freedesktop.vfio1.use-device"
#define VFIOD_ACTION_USE_DEVICE_OTHER  "org.freedesktop.vfio1.use-device-other" /* on top, below */
#define VFIOD_ACTION_LOCK_MEMORY       "org.freedesktop.vfio1.lock-memory"
#define VFIOD_DETAIL_DEVICE            "device"
#define VFIOD_DETAIL_GROUP             "group"
#define VFIOD_DETAIL_DEVICES           "devices"
#define VFIOD_DETAIL_UID               "uid"   /* use-device, lock-memory: the caller's */
#define VFIOD_DETAIL_PID               "pid"   /* lock-memory: the process to raise */
#define VFIOD_DETAIL_BYTES             "bytes" /* lock-memory: the new limit */
#define VFIOD_DETAIL_SIZE              "size"  /* lock-memory: the same, for humans ("8.0 GiB") */
#define VFIOD_DETAIL_PERSISTENT        "persistent" /* detach-*: "yes" or "no" */
#define VFIOD_DETAIL_OWNER_UID         "owner_uid"  /* use-device*, reattach-*: below */
#define VFIOD_OWNER_NONE               "none"
/* use-device-other is checked on top of use-device when the caller (not
 * root) is not the group's owner: the uid whose DetachDevice moved its
 * devices to vfio-pci in this boot, the "owner_uid" detail (in decimal;
 * VFIOD_OWNER_NONE when vfiod knows of nobody: bound by hand, at boot, in
 * an earlier boot, by an older vfiod). */

/* ---- device dictionary (GetGroup, ListDevices) -------------------- */
#define VFIOD_KEY_ADDRESS             "address"
#define VFIOD_KEY_GROUP               "group"
#define VFIOD_KEY_VENDOR_ID           "vendor_id"
#define VFIOD_KEY_DEVICE_ID           "device_id"
#define VFIOD_KEY_SUBSYSTEM_VENDOR_ID "subsystem_vendor_id"
#define VFIOD_KEY_SUBSYSTEM_DEVICE_ID "subsystem_device_id"
#define VFIOD_KEY_CLASS               "class"
#define VFIOD_KEY_VENDOR              "vendor"
#define VFIOD_KEY_NAME                "name"
#define VFIOD_KEY_DRIVER              "driver"
#define VFIOD_KEY_STATE               "state"
#define VFIOD_KEY_BRIDGE              "bridge"
#define VFIOD_KEY_IN_USE              "in_use"
#define VFIOD_KEY_GRANTED_UIDS        "granted_uids"  /* au */
#define VFIOD_KEY_OWNER_UID           "owner_uid"     /* u: who detached it, when known */
#define VFIOD_KEY_PERSISTENT          "persistent"    /* s, below */
#define VFIOD_KEY_RESET_METHODS       "reset_methods" /* as, below */

/* Values in "reset_methods": the kernel's own names (sysfs reset_method),
 * strongest first; without that file (kernels before 5.15) what config
 * space offers.  Empty: the device cannot be reset. */
#define VFIOD_RESET_FLR    "flr"
#define VFIOD_RESET_AF_FLR "af_flr"
#define VFIOD_RESET_PM     "pm"
#define VFIOD_RESET_BUS    "bus"

/* Values of "persistent": no record for the address, a record the device
 * there matches, "mismatch: " and what differs (the boot helper leaves
 * such a device to its host driver), or "stale-initramfs: " and what the
 * real root did with a device only the initramfs's out-of-date copy of
 * the records bound this boot ("given back to e1000e", "left on vfio-pci:
 * its group 5 is in use", "giving it back failed"). */
#define VFIOD_PERSISTENT_NONE            ""
#define VFIOD_PERSISTENT_ACTIVE          "active"
#define VFIOD_PERSISTENT_MISMATCH        "mismatch: "
#define VFIOD_PERSISTENT_STALE_INITRAMFS "stale-initramfs: "

/* ---- persistent assignment dictionary (ListPersistentAssignments) ---
 * address, the ids and class as recorded (keys as above), "persistent"
 * (the check now), and: */
#define VFIOD_KEY_MEMBERS "members" /* as: the group when recorded */
#define VFIOD_KEY_RECORD  "record"  /* s: the record's file */

/* ---- explanation dictionary (ExplainGroup) ----------------------------
 * "group" (u), and the device's "reset_methods" (as), and: */
#define VFIOD_KEY_CAUSE         "cause"         /* s, as Group.Cause */
#define VFIOD_KEY_CAUSE_DEVICE  "cause_device"  /* s, as Group.CauseDevice */
#define VFIOD_KEY_EXPLANATION   "explanation"   /* s, as Group.Explanation */
#define VFIOD_KEY_ADVICE        "advice"        /* s: what would isolate it */
#define VFIOD_KEY_RESET_WARNING "reset_warning" /* s: "" or why its reset reaches other groups */
#define VFIOD_KEY_ISOLATING_SLOTS \
  "isolating_slots"                   /* aa{sv}: slots whose devices get a
                                                     * group of their own, below */
#define VFIOD_KEY_SLOT     "slot"     /* s: the slot's name (/sys/bus/pci/slots/NAME) */
#define VFIOD_KEY_PORT     "port"     /* s: the bridge above the slot */
#define VFIOD_KEY_OCCUPANT "occupant" /* as: devices in the slot now, empty when free */

/* Values of Cause and "cause". */
#define VFIOD_CAUSE_ISOLATED           "isolated"           /* one endpoint, bridges at most */
#define VFIOD_CAUSE_MULTIFUNCTION      "multifunction"      /* functions without ACS between */
#define VFIOD_CAUSE_BRIDGE_WITHOUT_ACS "bridge-without-acs" /* a port above lacks ACS */
#define VFIOD_CAUSE_PCI_BRIDGE         "pci-bridge"         /* conventional PCI below a bridge */
#define VFIOD_CAUSE_ALIAS              "alias"              /* a DMA alias quirk */
#define VFIOD_CAUSE_UNKNOWN            "unknown"            /* the rules do not reproduce it */

/* ---- node dictionary (GrantAccess, RevokeAccess) ------------------- */
#define VFIOD_KEY_PATH "path" /* s: the device node, e.g. /dev/vfio/12 */
#define VFIOD_KEY_UID  "uid"  /* u: whose ACL entry */

/* Values of "state". */
#define VFIOD_STATE_HOST   "host"   /* bound to a host driver */
#define VFIOD_STATE_VFIO   "vfio"   /* bound to vfio-pci */
#define VFIOD_STATE_STUB   "stub"   /* bound to pci-stub */
#define VFIOD_STATE_BRIDGE "bridge" /* a PCI/PCIe bridge, whatever its driver */
#define VFIOD_STATE_NONE   "none"   /* an endpoint with no driver */

/* ---- plan dictionary (DetachDevice, ReattachDevice) --------------- */
#define VFIOD_KEY_ACTION      "action"
#define VFIOD_KEY_FROM        "from"
#define VFIOD_KEY_TO          "to"
#define VFIOD_KEY_REASON      "reason"
#define VFIOD_ACTION_DETACH   "detach"
#define VFIOD_ACTION_REATTACH "reattach"
#define VFIOD_ACTION_KEEP     "keep"

/* ---- driver names the service reports ("driver", "from", "to") ----- */
#define VFIOD_DRIVER_VFIO_PCI "vfio-pci"
#define VFIOD_DRIVER_PCI_STUB "pci-stub"
#define VFIOD_DRIVER_PCIEPORT "pcieport"

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kernel-names.h: the names of the kernel's and the host's files vfiod
 * reads and writes: sysfs, procfs, uevent keys, /dev/vfio.  Private to
 * the service and its boot helper; the test simulator keeps its own copy
 * (tests/sim/kernel.h), so a name misspelt here is caught by it. */
#pragma once

/* ---- kernel modules ------------------------------------------------ */
#define VFIOD_MODULE_VFIO_PCI "vfio_pci"

/* ---- sysfs and friends -------------------------------------------- */
#define VFIOD_SYSFS_PCI_DEVICES   "/sys/bus/pci/devices"
#define VFIOD_SYSFS_PCI_DRIVERS   "/sys/bus/pci/drivers"
#define VFIOD_SYSFS_DRIVERS_PROBE "/sys/bus/pci/drivers_probe"
#define VFIOD_SYSFS_IOMMU_GROUPS  "/sys/kernel/iommu_groups"
#define VFIOD_SYSFS_PCI_SLOTS     "/sys/bus/pci/slots" /* NAME/address: "dddd:bb:ss" */
#define VFIOD_SYSFS_CLASS_BLOCK   "/sys/class/block"
#define VFIOD_SYSFS_CLASS_NET     "/sys/class/net"
#define VFIOD_SYSFS_BUS_VIRTIO    "/sys/bus/virtio/devices"
/* every character device node by "major:minor": links into the tree */
#define VFIOD_SYSFS_DEV_CHAR "/sys/dev/char"
/* vtconN/{name,bind}: the consoles the VT layer has, and which is bound */
#define VFIOD_SYSFS_CLASS_VTCONSOLE "/sys/class/vtconsole"
#define VFIOD_SYSFS_CLASS_GRAPHICS  "/sys/class/graphics" /* fbN */
/* UUID/{label,devices/<block name>}: each btrfs while it is mounted */
#define VFIOD_SYSFS_FS_BTRFS   "/sys/fs/btrfs"
#define VFIOD_SYSFS_CLASS_VFIO "/sys/class/vfio" /* N/dev: a group node's "major:minor" */
/* Per PCI device (relative to /sys/bus/pci/devices/<address>/). */
#define VFIOD_ATTR_UEVENT           "uevent"
#define VFIOD_ATTR_VENDOR           "vendor"
#define VFIOD_ATTR_DEVICE           "device"
#define VFIOD_ATTR_CLASS            "class"
#define VFIOD_ATTR_SUBSYSTEM_VENDOR "subsystem_vendor"
#define VFIOD_ATTR_SUBSYSTEM_DEVICE "subsystem_device"
#define VFIOD_ATTR_REVISION         "revision"
#define VFIOD_ATTR_CONFIG           "config"
#define VFIOD_ATTR_RESET_METHOD     "reset_method" /* kernel >= 5.15 */
#define VFIOD_ATTR_SLOT_ADDRESS     "address"      /* of a slot */
#define VFIOD_ATTR_DRIVER           "driver"       /* link */
#define VFIOD_ATTR_DRIVER_OVERRIDE  "driver_override"
#define VFIOD_ATTR_IOMMU_GROUP      "iommu_group" /* link */
#define VFIOD_ATTR_BOOT_VGA         "boot_vga"
#define VFIOD_ATTR_PHYSFN           "physfn"    /* link, SR-IOV VF */
#define VFIOD_ATTR_SUBSYSTEM        "subsystem" /* link */
#define VFIOD_ATTR_ENABLE           "enable"
#define VFIOD_ATTR_VFIO_DEV         "vfio-dev" /* dir: vfio<N>, the device cdev */
/* Per driver (relative to /sys/bus/pci/drivers/<name>/). */
#define VFIOD_ATTR_BIND      "bind"
#define VFIOD_ATTR_UNBIND    "unbind"
#define VFIOD_ATTR_NEW_ID    "new_id"
#define VFIOD_ATTR_REMOVE_ID "remove_id"
/* Per block device (relative to /sys/class/block/<name>/). */
#define VFIOD_ATTR_DEV     "dev"
#define VFIOD_ATTR_HOLDERS "holders"
/* Per network interface (relative to /sys/class/net/<name>/). */
#define VFIOD_ATTR_MASTER       "master" /* link: the bridge or bond it is a port of */
#define VFIOD_ATTR_UPPER_PREFIX "upper_" /* upper_<name> links: VLANs, macvlans on it */
/* Per device node (relative to its directory). */
#define VFIOD_ATTR_NAME       "name" /* of an input device, a vtconsole */
#define VFIOD_ATTR_BIND_STATE "bind" /* of a vtconsole: "1" bound */
#define VFIOD_ATTR_CAPS_EV    "capabilities/ev"
#define VFIOD_ATTR_CAPS_KEY   "capabilities/key"
#define VFIOD_ATTR_CAPS_REL   "capabilities/rel"
#define VFIOD_UEVENT_DEVNAME  "DEVNAME"
/* Subsystems of device nodes whose kind makes a reason. */
#define VFIOD_SUBSYSTEM_INPUT    "input"
#define VFIOD_SUBSYSTEM_GRAPHICS "graphics" /* fbN */
/* Per virtio device (relative to /sys/bus/virtio/devices/<name>/). */
#define VFIOD_ATTR_MOUNT_TAG "mount_tag"
/* uevent keys of a PCI device. */
#define VFIOD_UEVENT_DRIVER        "DRIVER"
#define VFIOD_UEVENT_PCI_CLASS     "PCI_CLASS"
#define VFIOD_UEVENT_PCI_ID        "PCI_ID"
#define VFIOD_UEVENT_PCI_SUBSYS_ID "PCI_SUBSYS_ID"
#define VFIOD_UEVENT_PCI_SLOT_NAME "PCI_SLOT_NAME"
/* driver_override reads back this when unset. */
#define VFIOD_OVERRIDE_UNSET "(null)"

/* ---- procfs, udev, /dev ------------------------------------------ */
#define VFIOD_PROC_MOUNTINFO "/proc/self/mountinfo"
#define VFIOD_PROC_SWAPS     "/proc/swaps"
#define VFIOD_PROC_CMDLINE   "/proc/cmdline"
#define VFIOD_PROC_BOOT_ID   "/proc/sys/kernel/random/boot_id"
#define VFIOD_PROC_DIR       "/proc"
#define VFIOD_PROC_PID_FD    "fd"   /* /proc/PID/fd: the open files, magic links */
#define VFIOD_PROC_PID_COMM  "comm" /* /proc/PID/comm */
/* udev's database: one file per device ("c13:67", "b8:0"), "E:KEY=VALUE"
 * lines for its properties */
#define VFIOD_UDEV_DATA_DIR "/run/udev/data"
/* where device nodes are, by their DEVNAME */
#define VFIOD_DEV_DIR "/dev"
/* udevd runs (its control socket exists): listen to its events, which
 * come once its rules ran, instead of the kernel's */
#define VFIOD_UDEV_CONTROL         "/run/udev/control"
#define VFIOD_DEV_VFIO_DIR         "/dev/vfio"
#define VFIOD_DEV_VFIO_DEVICES_DIR "/dev/vfio/devices"

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* kernel.h: the names of the kernel's files and drivers the simulator
 * serves, written here from the kernel's documentation and sources, not
 * shared with vfiod: a name vfiod misspells is one the simulator does
 * not have, and its tests fail. */
#pragma once

#define SIM_ATTR_BIND "bind"
#define SIM_ATTR_BOOT_VGA "boot_vga"
#define SIM_ATTR_CLASS "class"
#define SIM_ATTR_CONFIG "config"
#define SIM_ATTR_RESET_METHOD "reset_method"
#define SIM_ATTR_DEV "dev"
#define SIM_ATTR_DEVICE "device"
#define SIM_ATTR_DRIVER "driver"
#define SIM_ATTR_DRIVER_OVERRIDE "driver_override"
#define SIM_ATTR_ENABLE "enable"
#define SIM_ATTR_HOLDERS "holders"
#define SIM_ATTR_IOMMU_GROUP "iommu_group"
#define SIM_ATTR_NEW_ID "new_id"
#define SIM_ATTR_PHYSFN "physfn"
#define SIM_ATTR_REMOVE_ID "remove_id"
#define SIM_ATTR_REVISION "revision"
#define SIM_ATTR_SUBSYSTEM "subsystem"
#define SIM_ATTR_SUBSYSTEM_DEVICE "subsystem_device"
#define SIM_ATTR_SUBSYSTEM_VENDOR "subsystem_vendor"
#define SIM_ATTR_UEVENT "uevent"
#define SIM_ATTR_UNBIND "unbind"
#define SIM_ATTR_VENDOR "vendor"
#define SIM_DRIVER_PCIEPORT "pcieport"
#define SIM_DRIVER_PCI_STUB "pci-stub"
#define SIM_DRIVER_VFIO_PCI "vfio-pci"
#define SIM_OVERRIDE_UNSET "(null)"
#define SIM_UEVENT_DRIVER "DRIVER"
#define SIM_UEVENT_PCI_CLASS "PCI_CLASS"
#define SIM_UEVENT_PCI_ID "PCI_ID"
#define SIM_UEVENT_PCI_SLOT_NAME "PCI_SLOT_NAME"
#define SIM_UEVENT_PCI_SUBSYS_ID "PCI_SUBSYS_ID"

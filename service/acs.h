/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acs.h: why devices share an IOMMU group.  The kernel's grouping rules
 * (drivers/iommu/iommu.c pci_device_group(): DMA aliases below PCIe-to-PCI
 * bridges, the ACS path to the root, functions of one slot without ACS
 * between them), with its ACS quirks by vendor and device id, as pure
 * logic over a tree of devices read elsewhere.  The computed grouping is
 * compared with the kernel's: where they differ the cause is "unknown",
 * never a guess. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "address.h"
#include "pciconfig.h"

typedef struct {
  PciAddress address;
  int parent;           /* index of the bridge whose secondary bus it is on,
                         * -1 on a root bus */
  int alias_of;         /* index of the device whose requester id its DMA
                         * carries (Intel VMD for the domain it hosts), -1 */
  PciConfig config;     /* parsed config space (ids, type, ACS, multifunction) */
  int64_t kernel_group; /* the kernel's group number, -1 when it has none */
} AcsNode;

typedef enum {
  ACS_CAUSE_ISOLATED,
  ACS_CAUSE_MULTIFUNCTION,
  ACS_CAUSE_BRIDGE_WITHOUT_ACS,
  ACS_CAUSE_PCI_BRIDGE,
  ACS_CAUSE_ALIAS,
  ACS_CAUSE_UNKNOWN,
} AcsCause;

typedef struct {
  int64_t group; /* the kernel's number */
  AcsCause cause;
  int cause_device; /* node index of the bridge or device responsible, -1 */
} AcsExplanation;

/* "isolated", "multifunction", "bridge-without-acs", "pci-bridge",
 * "alias", "unknown": the values of the Group objects' Cause. */
const char *acs_cause_to_string (AcsCause cause);

/* Whether node @i isolates its traffic as the kernel decides: its ACS
 * quirk by id if it has one, else pciconfig_acs_enabled(). */
int acs_node_isolates (const AcsNode *nodes, size_t n, size_t i);

/* Whether node @i and every bridge above it isolate (the kernel's
 * pci_acs_path_enabled): what a device plugged below @i needs for a
 * group of its own. */
int acs_path_isolates (const AcsNode *nodes, size_t n, size_t i);

/* Whether the kernel decides node @i's isolation by a quirk for its id
 * rather than by its ACS capability alone. */
int acs_node_has_quirk (const AcsNode *nodes, size_t n, size_t i);

/* For each node, the index of a representative of the group the rules
 * put it in (@rep has @n entries), and for each the cause that joined it
 * to another node (ACS_CAUSE_ISOLATED when none) and the node
 * responsible (@culprit, -1). */
void acs_compute (const AcsNode *nodes, size_t n, int *rep, AcsCause *why, int *culprit);

/* Explains every kernel group at once (one pass of the rules): @out has
 * @n entries, each node's the explanation of its group (ACS_CAUSE_UNKNOWN
 * for nodes without one).  0, or -1 when out of memory. */
int acs_explain_all (const AcsNode *nodes, size_t n, AcsExplanation *out);

/* Explains kernel group @group: its cause and the device responsible,
 * ACS_CAUSE_UNKNOWN when the rules do not give exactly its members. */
AcsExplanation acs_explain_group (const AcsNode *nodes, size_t n, int64_t group);

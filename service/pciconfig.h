/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pciconfig.h: what a device's PCI configuration space says about
 * isolation and reset: header type, PCIe port type, ACS capability and
 * control, FLR, PM reset.  Pure: parses bytes read elsewhere (sysfs
 * "config": all 4 KiB for root, the first 64 bytes for others).
 *
 * Config space is untrusted input (a device that returns all ones, a
 * capability list that is cut short or loops): anything not exactly
 * understood sets @malformed and clears what it would have told, so a
 * caller never decides on half-read data. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ACS capability and control bits (PCIe base spec, "ACS Extended
 * Capability"). */
#define PCICONFIG_ACS_SV 0x0001 /* Source Validation */
#define PCICONFIG_ACS_TB 0x0002 /* Translation Blocking */
#define PCICONFIG_ACS_RR 0x0004 /* P2P Request Redirect */
#define PCICONFIG_ACS_CR 0x0008 /* P2P Completion Redirect */
#define PCICONFIG_ACS_UF 0x0010 /* Upstream Forwarding */
#define PCICONFIG_ACS_EC 0x0020 /* P2P Egress Control */
#define PCICONFIG_ACS_DT 0x0040 /* Direct Translated P2P */
/* What the kernel requires for isolation (REQ_ACS_FLAGS). */
#define PCICONFIG_ACS_REQUIRED \
  (PCICONFIG_ACS_SV | PCICONFIG_ACS_RR | PCICONFIG_ACS_CR | PCICONFIG_ACS_UF)

typedef enum {
  PCICONFIG_NOT_PCIE = -1, /* conventional PCI: no PCIe capability */
  PCICONFIG_ENDPOINT = 0x0,
  PCICONFIG_LEGACY_ENDPOINT = 0x1,
  PCICONFIG_ROOT_PORT = 0x4,
  PCICONFIG_UPSTREAM_PORT = 0x5,
  PCICONFIG_DOWNSTREAM_PORT = 0x6,
  PCICONFIG_PCIE_TO_PCI_BRIDGE = 0x7,
  PCICONFIG_PCI_TO_PCIE_BRIDGE = 0x8,
  PCICONFIG_RC_INTEGRATED_ENDPOINT = 0x9,
  PCICONFIG_RC_EVENT_COLLECTOR = 0xa,
} PciConfigPortType;

typedef struct {
  uint16_t vendor_id, device_id;
  uint8_t header_type; /* 0 endpoint, 1 PCI-to-PCI bridge, 2 CardBus */
  bool multifunction;
  uint8_t secondary_bus; /* bridges: the bus behind it */
  PciConfigPortType port_type;
  bool caps_read;           /* the 256-byte space was given: the capabilities
                                * are known (the 64 bytes non-root readers get
                                * tell nothing of them) */
  bool has_extended;        /* the extended space (>= 260 bytes) was given */
  bool acs;                 /* an ACS capability was found */
  uint16_t acs_capability;  /* PCICONFIG_ACS_* it supports */
  uint16_t acs_control;     /* PCICONFIG_ACS_* enabled */
  uint32_t acs_control_spt; /* the dword at the capability + 8, where Intel
                             * Sunrise/Union Point PCH root ports keep
                             * their control bits (0 when past the end) */
  bool flr;                 /* PCIe Device Capabilities FLR, or AF FLR */
  bool pm;                  /* a PM capability */
  bool pm_no_soft_reset;    /* PMCSR No_Soft_Reset: D3hot->D0 keeps state */
  const char *malformed;    /* NULL, or why the space cannot be trusted */
} PciConfig;

/* Parses @size bytes of config space into @out (always filled; see
 * @malformed).  Returns 0, or -EBADMSG when malformed. */
int pciconfig_parse (const uint8_t *data, size_t size, PciConfig *out);

/* Whether the device isolates as the kernel's pci_acs_enabled() decides
 * (false whenever the capabilities were not read),
 * before its per-device quirks (acs.c applies those): conventional PCI,
 * PCI-to-PCIe and PCIe-to-PCI bridges and event collectors never do;
 * root and downstream ports when their ACS control has @required (a bit
 * the capability does not implement counts as hard-wired on, except
 * Egress Control); endpoints, upstream ports and integrated endpoints
 * likewise when multifunction, and always when single-function.  False
 * for a malformed space. */
bool pciconfig_acs_enabled (const PciConfig *config, uint16_t required);

/* "root port", "PCIe-to-PCI bridge", "conventional PCI"... */
const char *pciconfig_port_type_to_string (PciConfigPortType type);

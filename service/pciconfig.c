/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "pciconfig.h"

#include <errno.h>
#include <string.h>

/* Offsets in config space (PCI Local Bus and PCIe base specifications). */
#define CFG_VENDOR_ID      0x00
#define CFG_DEVICE_ID      0x02
#define CFG_STATUS         0x06
#define CFG_STATUS_CAPLIST 0x10
#define CFG_HEADER_TYPE    0x0e
#define CFG_CAP_PTR        0x34
#define CFG_SECONDARY_BUS  0x19 /* bridges, CardBus bridges */
#define CFG_CAP_PTR_CB     0x14 /* CardBus bridges */
#define CFG_STD_SIZE       0x40
#define CFG_EXT_START      0x100
#define CFG_EXT_SIZE       0x1000

#define CAP_ID_PM      0x01
#define CAP_ID_PCIE    0x10
#define CAP_ID_AF      0x13
#define EXT_CAP_ID_ACS 0x000d

/* Each capability takes at least 4 bytes: no honest list is longer. */
#define MAX_STD_CAPS ((CFG_EXT_START - CFG_STD_SIZE) / 4)
#define MAX_EXT_CAPS ((CFG_EXT_SIZE - CFG_EXT_START) / 8)

static uint16_t
get16 (const uint8_t *d, size_t off)
{
  return (uint16_t) (d[off] | d[off + 1] << 8);
}

static uint32_t
get32 (const uint8_t *d, size_t off)
{
  return (uint32_t) d[off] | (uint32_t) d[off + 1] << 8 | (uint32_t) d[off + 2] << 16 |
         (uint32_t) d[off + 3] << 24;
}

static int
malformed (PciConfig *out, const char *why)
{
  PciConfig keep = { .vendor_id = out->vendor_id, .device_id = out->device_id };

  *out = keep;
  out->port_type = PCICONFIG_NOT_PCIE;
  out->malformed = why;
  return -EBADMSG;
}

static int
parse_std_caps (const uint8_t *d, size_t size, PciConfig *out)
{
  uint8_t seen[CFG_EXT_START / 8] = { 0 };
  size_t ptr;
  unsigned n = 0;

  if (!(get16 (d, CFG_STATUS) & CFG_STATUS_CAPLIST))
    return 0;
  ptr = d[out->header_type == 2 ? CFG_CAP_PTR_CB : CFG_CAP_PTR] & ~3u;
  while (ptr)
    {
      uint8_t id;

      if (ptr < CFG_STD_SIZE || ptr + 4 > size || ptr + 4 > CFG_EXT_START)
        return malformed (out, "a capability points outside the space read");
      if (seen[ptr / 8] & (1u << (ptr % 8)) || ++n > MAX_STD_CAPS)
        return malformed (out, "the capability list loops");
      seen[ptr / 8] |= (uint8_t) (1u << (ptr % 8));
      id = d[ptr];
      switch (id)
        {
        case CAP_ID_PM:
          if (ptr + 8 > size)
            return malformed (out, "the PM capability is cut short");
          out->pm = true;
          /* PMCSR bit 3: No_Soft_Reset */
          out->pm_no_soft_reset = (get16 (d, ptr + 4) & 0x0008) != 0;
          break;
        case CAP_ID_PCIE:
          if (ptr + 8 > size)
            return malformed (out, "the PCIe capability is cut short");
          out->port_type = (PciConfigPortType) ((get16 (d, ptr + 2) >> 4) & 0xf);
          /* Device Capabilities bit 28: Function Level Reset */
          if (get32 (d, ptr + 4) & (1u << 28))
            out->flr = true;
          break;
        case CAP_ID_AF:
          if (ptr + 6 > size)
            return malformed (out, "the Advanced Features capability is cut short");
          /* AF capabilities: bit 1 FLR, bit 0 Transactions Pending */
          if ((d[ptr + 3] & 0x03) == 0x03)
            out->flr = true;
          break;
        default: break;
        }
      ptr = d[ptr + 1] & ~3u;
    }
  return 0;
}

static int
parse_ext_caps (const uint8_t *d, size_t size, PciConfig *out)
{
  size_t ptr = CFG_EXT_START;
  unsigned n = 0;

  out->has_extended = size >= CFG_EXT_START + 4;
  /* only PCIe devices have the extended space (conventional ones read 0s
   * or ones there) */
  if (!out->has_extended || out->port_type == PCICONFIG_NOT_PCIE)
    return 0;
  if (get32 (d, CFG_EXT_START) == 0 || get32 (d, CFG_EXT_START) == 0xffffffff)
    return 0; /* no extended capabilities */
  for (;;)
    {
      uint32_t header;

      if (ptr + 4 > size)
        return malformed (out, "an extended capability points outside the space read");
      if (++n > MAX_EXT_CAPS)
        return malformed (out, "the extended capability list loops");
      header = get32 (d, ptr);
      if ((header & 0xffff) == EXT_CAP_ID_ACS)
        {
          if (ptr + 8 > size)
            return malformed (out, "the ACS capability is cut short");
          out->acs = true;
          out->acs_capability = get16 (d, ptr + 4);
          out->acs_control = get16 (d, ptr + 6);
          if (ptr + 12 <= size)
            out->acs_control_spt = get32 (d, ptr + 8);
        }
      ptr = (header >> 20) & ~3u;
      if (ptr == 0)
        return 0;
      if (ptr < CFG_EXT_START)
        return malformed (out, "an extended capability points into the standard space");
    }
}

int
pciconfig_parse (const uint8_t *data, size_t size, PciConfig *out)
{
  int r;

  memset (out, 0, sizeof *out);
  out->port_type = PCICONFIG_NOT_PCIE;
  if (size < CFG_STD_SIZE)
    return malformed (out, "shorter than the 64-byte header");
  out->vendor_id = get16 (data, CFG_VENDOR_ID);
  out->device_id = get16 (data, CFG_DEVICE_ID);
  if (out->vendor_id == 0xffff || out->vendor_id == 0x0000)
    return malformed (out, "the device answers all ones (or zeros): gone or broken");
  out->header_type = data[CFG_HEADER_TYPE] & 0x7f;
  out->multifunction = (data[CFG_HEADER_TYPE] & 0x80) != 0;
  if (out->header_type > 2)
    return malformed (out, "an unknown header type");
  if (out->header_type != 0)
    out->secondary_bus = data[CFG_SECONDARY_BUS];
  if (size < CFG_EXT_START)
    return 0; /* the header only: what it says, and nothing of the capabilities */
  out->caps_read = true;
  r = parse_std_caps (data, size, out);
  if (r < 0)
    return r;
  return parse_ext_caps (data, size, out);
}

/* pci_acs_flags_enabled(): what the capability does not implement is
 * hard-wired on, except Egress Control. */
static bool
flags_enabled (const PciConfig *c, uint16_t required)
{
  if (!c->acs)
    return false;
  required &= (uint16_t) (c->acs_capability | PCICONFIG_ACS_EC);
  return (c->acs_control & required) == required;
}

bool
pciconfig_acs_enabled (const PciConfig *c, uint16_t required)
{
  if (c->malformed || !c->caps_read)
    return false;
  switch (c->port_type)
    {
    case PCICONFIG_NOT_PCIE:
    case PCICONFIG_PCI_TO_PCIE_BRIDGE:
    case PCICONFIG_PCIE_TO_PCI_BRIDGE:
    case PCICONFIG_RC_EVENT_COLLECTOR: return false;
    case PCICONFIG_DOWNSTREAM_PORT:
    case PCICONFIG_ROOT_PORT: return flags_enabled (c, required);
    case PCICONFIG_ENDPOINT:
    case PCICONFIG_UPSTREAM_PORT:
    case PCICONFIG_LEGACY_ENDPOINT:
    case PCICONFIG_RC_INTEGRATED_ENDPOINT:
      return c->multifunction ? flags_enabled (c, required) : true;
    }
  /* reserved types: the kernel's default, nothing to isolate */
  return true;
}

const char *
pciconfig_port_type_to_string (PciConfigPortType type)
{
  switch (type)
    {
    case PCICONFIG_NOT_PCIE: return "conventional PCI";
    case PCICONFIG_ENDPOINT: return "PCIe endpoint";
    case PCICONFIG_LEGACY_ENDPOINT: return "legacy PCIe endpoint";
    case PCICONFIG_ROOT_PORT: return "root port";
    case PCICONFIG_UPSTREAM_PORT: return "switch upstream port";
    case PCICONFIG_DOWNSTREAM_PORT: return "switch downstream port";
    case PCICONFIG_PCIE_TO_PCI_BRIDGE: return "PCIe-to-PCI bridge";
    case PCICONFIG_PCI_TO_PCIE_BRIDGE: return "PCI-to-PCIe bridge";
    case PCICONFIG_RC_INTEGRATED_ENDPOINT: return "root complex integrated endpoint";
    case PCICONFIG_RC_EVENT_COLLECTOR: return "root complex event collector";
    }
  return "PCIe device of a reserved type";
}

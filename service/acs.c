/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "acs.h"

#include <stdbool.h>
#include <stdlib.h>

/* ---- the kernel's ACS quirks (drivers/pci/quirks.c), by id ---------------
 * Only those that decide a whole class of common machines; a device
 * without an entry follows its config space. */

typedef enum {
  QUIRK_NONE,
  QUIRK_ISOLATES,     /* the kernel enables and trusts a vendor mechanism */
  QUIRK_NO_ISOLATION, /* the kernel says it cannot redirect P2P */
  QUIRK_INTEL_SPT,    /* ACS control in a dword at the capability + 8 */
} Quirk;

typedef struct {
  uint16_t vendor, first, last; /* device id range */
  Quirk quirk;
} QuirkRange;

static const QuirkRange quirks[] = {
  /* Intel PCH root ports whose ACS the kernel enables by a chipset
   * register (pci_quirk_intel_pch_acs) */
  { 0x8086, 0x3b42, 0x3b51, QUIRK_ISOLATES }, /* Ibex Peak */
  { 0x8086, 0x1c10, 0x1c1f, QUIRK_ISOLATES }, /* Cougar Point */
  { 0x8086, 0x1e10, 0x1e1f, QUIRK_ISOLATES }, /* Panther Point */
  { 0x8086, 0x8c10, 0x8c1f, QUIRK_ISOLATES }, /* Lynx Point */
  { 0x8086, 0x9c10, 0x9c1b, QUIRK_ISOLATES }, /* Lynx Point LP */
  { 0x8086, 0x9c90, 0x9c9b, QUIRK_ISOLATES }, /* Wildcat Point LP */
  { 0x8086, 0x8d10, 0x8d1e, QUIRK_ISOLATES }, /* Wellsburg */
  { 0x8086, 0x8c90, 0x8c9e, QUIRK_ISOLATES }, /* 9 Series */
  /* Intel Sunrise Point / Union Point PCH root ports: an ACS capability
   * whose control register is a dword at the capability + 8
   * (pci_quirk_intel_spt_pch_acs); without the capability, the standard
   * rules (no ACS: no isolation) */
  { 0x8086, 0xa110, 0xa11f, QUIRK_INTEL_SPT },
  { 0x8086, 0xa167, 0xa16a, QUIRK_INTEL_SPT },
  { 0x8086, 0xa290, 0xa29f, QUIRK_INTEL_SPT },
  { 0x8086, 0xa2e7, 0xa2ee, QUIRK_INTEL_SPT },
  /* AMD/ATI southbridge ports (pci_quirk_amd_sb_acs): no P2P redirection */
  { 0x1002, 0x4383, 0x4385, QUIRK_NO_ISOLATION },
  { 0x1002, 0x4399, 0x4399, QUIRK_NO_ISOLATION },
  { 0x1002, 0x439c, 0x439d, QUIRK_NO_ISOLATION },
  { 0x1022, 0x780f, 0x780f, QUIRK_NO_ISOLATION },
  { 0x1022, 0x7809, 0x7809, QUIRK_NO_ISOLATION },
};

static Quirk
quirk_of (const PciConfig *c)
{
  for (size_t i = 0; i < sizeof quirks / sizeof quirks[0]; i++)
    if (c->vendor_id == quirks[i].vendor && c->device_id >= quirks[i].first &&
        c->device_id <= quirks[i].last)
      return quirks[i].quirk;
  return QUIRK_NONE;
}

const char *
acs_cause_to_string (AcsCause cause)
{
  switch (cause)
    {
    case ACS_CAUSE_ISOLATED: return "isolated";
    case ACS_CAUSE_MULTIFUNCTION: return "multifunction";
    case ACS_CAUSE_BRIDGE_WITHOUT_ACS: return "bridge-without-acs";
    case ACS_CAUSE_PCI_BRIDGE: return "pci-bridge";
    case ACS_CAUSE_ALIAS: return "alias";
    case ACS_CAUSE_UNKNOWN: return "unknown";
    }
  return "unknown";
}

int
acs_node_isolates (const AcsNode *nodes, size_t n, size_t i)
{
  const PciConfig *c = &nodes[i].config;

  if (c->malformed)
    return 0;
  switch (quirk_of (c))
    {
    case QUIRK_ISOLATES: return 1;
    case QUIRK_NO_ISOLATION: return 0;
    case QUIRK_INTEL_SPT:
      if (c->caps_read && c->acs)
        {
          uint32_t required = PCICONFIG_ACS_REQUIRED & (c->acs_capability | PCICONFIG_ACS_EC);
          return (c->acs_control_spt & required) == required;
        }
      break;
    case QUIRK_NONE: break;
    }
  return pciconfig_acs_enabled (c, PCICONFIG_ACS_REQUIRED);
}

int
acs_node_has_quirk (const AcsNode *nodes, size_t n, size_t i)
{
  return quirk_of (&nodes[i].config) != QUIRK_NONE;
}

/* pci_acs_path_enabled(node, NULL): it and every bridge above it. */
static bool
path_isolates (const AcsNode *nodes, size_t n, int i)
{
  for (; i >= 0; i = nodes[i].parent)
    if (!acs_node_isolates (nodes, n, (size_t) i))
      return false;
  return true;
}

int
acs_path_isolates (const AcsNode *nodes, size_t n, size_t i)
{
  return path_isolates (nodes, n, (int) i);
}

static int
find (int *rep, int i)
{
  while (rep[i] != i)
    {
      rep[i] = rep[rep[i]];
      i = rep[i];
    }
  return i;
}

static void
join (int *rep, AcsCause *why, int *culprit, int i, int j, AcsCause cause, int who)
{
  int a = find (rep, i), b = find (rep, j);

  if (a != b)
    rep[a < b ? b : a] = a < b ? a : b;
  /* the first reason a node joined is its reason */
  if (why[i] == ACS_CAUSE_ISOLATED)
    {
      why[i] = cause;
      culprit[i] = who;
    }
}

static bool
same_slot (const AcsNode *a, const AcsNode *b)
{
  return a->parent == b->parent && a->address.domain == b->address.domain &&
         a->address.bus == b->address.bus && a->address.slot == b->address.slot;
}

static bool
is_bridge (const AcsNode *node)
{
  return node->config.header_type == 1 || node->config.header_type == 2;
}

void
acs_compute (const AcsNode *nodes, size_t n, int *rep, AcsCause *why, int *culprit)
{
  for (size_t i = 0; i < n; i++)
    {
      rep[i] = (int) i;
      why[i] = ACS_CAUSE_ISOLATED;
      culprit[i] = -1;
    }

  for (size_t i = 0; i < n; i++)
    {
      int d = (int) i, top_alias = -1;

      /* a device whose DMA carries another's id (the VMD hosting its
       * domain) is in that device's group */
      if (nodes[i].alias_of >= 0)
        join (rep, why, culprit, (int) i, nodes[i].alias_of, ACS_CAUSE_ALIAS, nodes[i].alias_of);

      /* DMA aliases: below a PCIe-to-PCI bridge (or any conventional
       * bridge), requests carry the bridge's id */
      for (int b = nodes[i].parent; b >= 0; b = nodes[b].parent)
        if (nodes[b].config.port_type == PCICONFIG_PCIE_TO_PCI_BRIDGE ||
            (is_bridge (&nodes[b]) && nodes[b].config.port_type == PCICONFIG_NOT_PCIE))
          top_alias = b;
      if (top_alias >= 0)
        join (rep, why, culprit, (int) i, top_alias, ACS_CAUSE_PCI_BRIDGE, top_alias);

      /* up the tree while the path to the root does not isolate */
      for (int b = nodes[d].parent; b >= 0; b = nodes[b].parent)
        {
          if (path_isolates (nodes, n, b))
            break;
          join (rep, why, culprit, (int) i, b, ACS_CAUSE_BRIDGE_WITHOUT_ACS, b);
          d = b;
        }

      /* functions of one slot without ACS between them */
      if (nodes[d].config.multifunction && !acs_node_isolates (nodes, n, (size_t) d))
        for (size_t j = 0; j < n; j++)
          if ((int) j != d && same_slot (&nodes[j], &nodes[d]) && !acs_node_isolates (nodes, n, j))
            join (rep, why, culprit, (int) i, (int) j, ACS_CAUSE_MULTIFUNCTION, d);
    }
}

/* The explanation of kernel group @group, whose members are the @m node
 * indices in @members, from one acs_compute(); @size[r] counts the nodes
 * whose representative is r. */
static AcsExplanation
explain_members (const AcsNode *nodes, int *rep, const AcsCause *why, const int *culprit,
                 const int *size, const int *members, size_t m, int64_t group)
{
  AcsExplanation e = { .group = group, .cause = ACS_CAUSE_UNKNOWN, .cause_device = -1 };
  static const AcsCause order[] = { ACS_CAUSE_PCI_BRIDGE, ACS_CAUSE_ALIAS,
                                    ACS_CAUSE_BRIDGE_WITHOUT_ACS, ACS_CAUSE_MULTIFUNCTION };
  int root, endpoints = 0;

  if (m == 0)
    return e;
  root = find (rep, members[0]);
  for (size_t k = 0; k < m; k++)
    if (nodes[members[k]].config.malformed || find (rep, members[k]) != root)
      return e; /* never decide on a space that cannot be trusted */
  /* the rules must give exactly the kernel's members: no more either */
  if ((size_t) size[root] != m)
    return e;

  for (size_t k = 0; k < m; k++)
    if (!is_bridge (&nodes[members[k]]))
      endpoints++;
  if (endpoints <= 1)
    {
      e.cause = ACS_CAUSE_ISOLATED;
      return e;
    }
  /* the strongest reason any member joined; of its culprits, one on a
   * root bus if there is one (the topmost bridge explains the rest) */
  for (size_t o = 0; o < sizeof order / sizeof order[0] && e.cause == ACS_CAUSE_UNKNOWN; o++)
    for (size_t k = 0; k < m; k++)
      {
        int i = members[k], c = culprit[i];
        if (why[i] != order[o])
          continue;
        if (e.cause == ACS_CAUSE_UNKNOWN || (c >= 0 && e.cause_device >= 0 && nodes[c].parent < 0 &&
                                             nodes[e.cause_device].parent >= 0))
          e.cause_device = c;
        e.cause = order[o];
      }
  if (e.cause == ACS_CAUSE_UNKNOWN)
    e.cause_device = -1;
  return e;
}

typedef struct {
  int64_t group;
  int node;
} Member;

static int
by_group (const void *a, const void *b)
{
  const Member *x = a, *y = b;

  if (x->group != y->group)
    return x->group < y->group ? -1 : 1;
  return x->node < y->node ? -1 : x->node > y->node;
}

int
acs_explain_all (const AcsNode *nodes, size_t n, AcsExplanation *out)
{
  int *rep = calloc (n ? n : 1, sizeof *rep);
  int *culprit = calloc (n ? n : 1, sizeof *culprit);
  int *size = calloc (n ? n : 1, sizeof *size);
  int *order = calloc (n ? n : 1, sizeof *order);
  Member *members = calloc (n ? n : 1, sizeof *members);
  AcsCause *why = calloc (n ? n : 1, sizeof *why);
  int r = -1;

  if (!rep || !culprit || !size || !order || !members || !why)
    goto out;
  acs_compute (nodes, n, rep, why, culprit);
  for (size_t i = 0; i < n; i++)
    {
      size[find (rep, (int) i)]++;
      members[i] = (Member){ nodes[i].kernel_group, (int) i };
    }
  qsort (members, n, sizeof *members, by_group);
  for (size_t i = 0; i < n; i++)
    order[i] = members[i].node;
  for (size_t k = 0; k < n;)
    {
      size_t end = k;
      int64_t g = nodes[order[k]].kernel_group;
      AcsExplanation e;

      while (end < n && nodes[order[end]].kernel_group == g)
        end++;
      if (g < 0)
        e = (AcsExplanation){ .group = g, .cause = ACS_CAUSE_UNKNOWN, .cause_device = -1 };
      else
        e = explain_members (nodes, rep, why, culprit, size, order + k, end - k, g);
      for (; k < end; k++)
        out[order[k]] = e;
    }
  r = 0;
out:
  free (rep);
  free (culprit);
  free (size);
  free (order);
  free (members);
  free (why);
  return r;
}

AcsExplanation
acs_explain_group (const AcsNode *nodes, size_t n, int64_t group)
{
  AcsExplanation e = { .group = group, .cause = ACS_CAUSE_UNKNOWN, .cause_device = -1 };
  AcsExplanation *all = calloc (n ? n : 1, sizeof *all);

  if (all && acs_explain_all (nodes, n, all) == 0)
    for (size_t i = 0; i < n; i++)
      if (nodes[i].kernel_group == group)
        {
          e = all[i];
          break;
        }
  free (all);
  return e;
}

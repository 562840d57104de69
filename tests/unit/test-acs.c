/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* acs.c on hand-made trees: every cause, the quirks, and "unknown" when
 * the rules do not give the kernel's groups or a space is malformed. */
#include <glib.h>
#include <string.h>

#include "acs.h"

#define ACS_ALL PCICONFIG_ACS_REQUIRED

static AcsNode
node (const char *addr, int parent, PciConfigPortType type, gboolean mf, uint16_t acs_ctrl,
      gboolean has_acs, int64_t group)
{
  AcsNode n;

  memset (&n, 0, sizeof n);
  g_assert_true (address_parse (addr, &n.address));
  n.parent = parent;
  n.alias_of = -1;
  n.config.vendor_id = 0x1b36; /* QEMU: no quirk */
  n.config.device_id = 0x000c;
  n.config.port_type = type;
  n.config.caps_read = TRUE;
  n.config.has_extended = TRUE;
  n.config.multifunction = mf;
  n.config.header_type = (type == PCICONFIG_ROOT_PORT || type == PCICONFIG_UPSTREAM_PORT ||
                          type == PCICONFIG_DOWNSTREAM_PORT || type == PCICONFIG_PCIE_TO_PCI_BRIDGE)
                             ? 1
                             : 0;
  n.config.acs = has_acs;
  n.config.acs_capability = has_acs ? ACS_ALL : 0;
  n.config.acs_control = acs_ctrl;
  n.kernel_group = group;
  return n;
}

static void
assert_cause (const AcsNode *nodes, size_t n, int64_t group, AcsCause cause, int device)
{
  AcsExplanation e = acs_explain_group (nodes, n, group);

  g_assert_cmpstr (acs_cause_to_string (e.cause), ==, acs_cause_to_string (cause));
  g_assert_cmpint (e.cause_device, ==, device);
}

/* A switch whose downstream ports have ACS: below a root port with ACS
 * each endpoint is alone; below one without, the kernel groups the whole
 * hierarchy with the root port. */
static void
test_switch (void)
{
  AcsNode t[] = {
    node ("00:1c.0", -1, PCICONFIG_ROOT_PORT, FALSE, ACS_ALL, TRUE, 1),
    node ("01:00.0", 0, PCICONFIG_UPSTREAM_PORT, FALSE, 0, FALSE, 2),
    node ("02:01.0", 1, PCICONFIG_DOWNSTREAM_PORT, FALSE, ACS_ALL, TRUE, 3),
    node ("02:02.0", 1, PCICONFIG_DOWNSTREAM_PORT, FALSE, ACS_ALL, TRUE, 4),
    node ("03:00.0", 2, PCICONFIG_ENDPOINT, FALSE, 0, FALSE, 5),
    node ("04:00.0", 3, PCICONFIG_ENDPOINT, FALSE, 0, FALSE, 6),
  };

  for (int64_t g = 1; g <= 6; g++)
    assert_cause (t, G_N_ELEMENTS (t), g, ACS_CAUSE_ISOLATED, -1);

  /* the same switch below a root port without ACS */
  t[0].config.acs = FALSE;
  t[0].config.acs_control = 0;
  for (size_t i = 0; i < G_N_ELEMENTS (t); i++)
    t[i].kernel_group = 1;
  assert_cause (t, G_N_ELEMENTS (t), 1, ACS_CAUSE_BRIDGE_WITHOUT_ACS, 0);
}

/* Two root ports as functions of one slot, the ACS capability there but
 * its bits off, an endpoint under each: one group of four (QEMU's
 * pcie-root-port,disable-acs=on). */
static void
test_acs_bits_off (void)
{
  AcsNode t[] = {
    node ("00:02.0", -1, PCICONFIG_ROOT_PORT, TRUE, 0, TRUE, 1),
    node ("00:02.1", -1, PCICONFIG_ROOT_PORT, TRUE, 0, TRUE, 1),
    node ("01:00.0", 0, PCICONFIG_ENDPOINT, FALSE, 0, FALSE, 1),
    node ("02:00.0", 1, PCICONFIG_ENDPOINT, FALSE, 0, FALSE, 1),
  };

  assert_cause (t, G_N_ELEMENTS (t), 1, ACS_CAUSE_BRIDGE_WITHOUT_ACS, 0);
  /* with the bits on, each endpoint alone with its port */
  for (size_t i = 0; i < 2; i++)
    t[i].config.acs_control = ACS_ALL;
  t[0].kernel_group = t[2].kernel_group = 1;
  t[1].kernel_group = t[3].kernel_group = 2;
  /* (a root port is grouped alone: its endpoint joins it only without ACS) */
  t[2].kernel_group = 3;
  t[3].kernel_group = 4;
  for (int64_t g = 1; g <= 4; g++)
    assert_cause (t, G_N_ELEMENTS (t), g, ACS_CAUSE_ISOLATED, -1);
}

static void
test_multifunction (void)
{
  AcsNode t[] = {
    node ("00:05.0", -1, PCICONFIG_ENDPOINT, TRUE, 0, FALSE, 4),
    node ("00:05.1", -1, PCICONFIG_ENDPOINT, TRUE, 0, FALSE, 4),
  };

  assert_cause (t, G_N_ELEMENTS (t), 4, ACS_CAUSE_MULTIFUNCTION, 0);

  /* with ACS between the functions: each alone */
  t[0].config.acs = t[1].config.acs = TRUE;
  t[0].config.acs_capability = t[1].config.acs_capability = ACS_ALL;
  t[0].config.acs_control = t[1].config.acs_control = ACS_ALL;
  t[1].kernel_group = 5;
  assert_cause (t, G_N_ELEMENTS (t), 4, ACS_CAUSE_ISOLATED, -1);
  assert_cause (t, G_N_ELEMENTS (t), 5, ACS_CAUSE_ISOLATED, -1);
}

/* Conventional PCI below a PCIe-to-PCI bridge: one group with the
 * bridge; the root port above it, with ACS, alone. */
static void
test_pci_bridge (void)
{
  AcsNode t[] = {
    node ("00:04.0", -1, PCICONFIG_ROOT_PORT, FALSE, ACS_ALL, TRUE, 3),
    node ("04:00.0", 0, PCICONFIG_PCIE_TO_PCI_BRIDGE, FALSE, 0, FALSE, 10),
    node ("05:01.0", 1, PCICONFIG_NOT_PCIE, FALSE, 0, FALSE, 10),
    node ("05:02.0", 1, PCICONFIG_NOT_PCIE, FALSE, 0, FALSE, 10),
  };

  assert_cause (t, G_N_ELEMENTS (t), 3, ACS_CAUSE_ISOLATED, -1);
  assert_cause (t, G_N_ELEMENTS (t), 10, ACS_CAUSE_PCI_BRIDGE, 1);
}

/* Intel PCH root ports: the older ones isolate by a chipset register
 * the kernel sets, without an ACS capability; Sunrise/Union Point ones
 * have the capability with the control bits in a dword at +8, and
 * without it do not isolate. */
static void
test_quirk (void)
{
  AcsNode t[] = {
    node ("00:1c.0", -1, PCICONFIG_ROOT_PORT, TRUE, 0, FALSE, 1),
    node ("00:1c.4", -1, PCICONFIG_ROOT_PORT, TRUE, 0, FALSE, 2),
    node ("02:00.0", 0, PCICONFIG_ENDPOINT, FALSE, 0, FALSE, 3),
    node ("03:00.0", 1, PCICONFIG_ENDPOINT, FALSE, 0, FALSE, 4),
  };

  /* Lynx Point: the chipset register */
  t[0].config.vendor_id = t[1].config.vendor_id = 0x8086;
  t[0].config.device_id = 0x8c10;
  t[1].config.device_id = 0x8c12;
  g_assert_true (acs_node_isolates (t, G_N_ELEMENTS (t), 0));
  for (int64_t g = 1; g <= 4; g++)
    assert_cause (t, G_N_ELEMENTS (t), g, ACS_CAUSE_ISOLATED, -1);

  /* Union Point without the capability: no isolation */
  t[0].config.device_id = 0xa290;
  t[1].config.device_id = 0xa294;
  g_assert_false (acs_node_isolates (t, G_N_ELEMENTS (t), 0));
  /* with it, the standard control register is not what counts */
  t[0].config.acs = TRUE;
  t[0].config.acs_capability = ACS_ALL;
  t[0].config.acs_control = ACS_ALL;
  t[0].config.acs_control_spt = 0;
  g_assert_false (acs_node_isolates (t, G_N_ELEMENTS (t), 0));
  t[0].config.acs_control = 0;
  t[0].config.acs_control_spt = ACS_ALL;
  g_assert_true (acs_node_isolates (t, G_N_ELEMENTS (t), 0));
  /* bits the capability does not implement count as on */
  t[0].config.acs_capability = PCICONFIG_ACS_SV;
  t[0].config.acs_control_spt = PCICONFIG_ACS_SV;
  g_assert_true (acs_node_isolates (t, G_N_ELEMENTS (t), 0));
  t[0].config.acs_control_spt = 0;
  g_assert_false (acs_node_isolates (t, G_N_ELEMENTS (t), 0));

  /* an AMD southbridge port: no isolation, whatever its config says */
  t[0].config.vendor_id = 0x1002;
  t[0].config.device_id = 0x4385;
  t[0].config.acs = TRUE;
  t[0].config.acs_capability = t[0].config.acs_control = ACS_ALL;
  g_assert_false (acs_node_isolates (t, G_N_ELEMENTS (t), 0));
}

/* Intel VMD: the devices of the domain it hosts reach the IOMMU with its
 * requester id, so they are in its group whatever their ports' ACS. */
static void
test_alias (void)
{
  AcsNode t[] = {
    node ("5d:05.5", -1, PCICONFIG_RC_INTEGRATED_ENDPOINT, FALSE, 0, FALSE, 30),
    node ("10000:00:00.0", -1, PCICONFIG_ROOT_PORT, FALSE, ACS_ALL, TRUE, 30),
    node ("10000:01:00.0", 1, PCICONFIG_ENDPOINT, FALSE, 0, FALSE, 30),
    node ("5d:00.0", -1, PCICONFIG_ROOT_PORT, FALSE, ACS_ALL, TRUE, 29),
  };

  t[1].alias_of = 0;
  t[2].alias_of = 0;
  assert_cause (t, G_N_ELEMENTS (t), 30, ACS_CAUSE_ALIAS, 0);
  assert_cause (t, G_N_ELEMENTS (t), 29, ACS_CAUSE_ISOLATED, -1);
}

static void
test_unknown (void)
{
  /* the kernel put two unrelated endpoints together: the rules cannot
   * say why, and do not guess */
  AcsNode t[] = {
    node ("00:14.0", -1, PCICONFIG_RC_INTEGRATED_ENDPOINT, FALSE, 0, FALSE, 5),
    node ("00:17.0", -1, PCICONFIG_RC_INTEGRATED_ENDPOINT, FALSE, 0, FALSE, 5),
  };

  assert_cause (t, G_N_ELEMENTS (t), 5, ACS_CAUSE_UNKNOWN, -1);

  /* a member's config space cannot be trusted */
  t[1].kernel_group = 6;
  t[1].config.malformed = "the capability list loops";
  assert_cause (t, G_N_ELEMENTS (t), 5, ACS_CAUSE_ISOLATED, -1);
  assert_cause (t, G_N_ELEMENTS (t), 6, ACS_CAUSE_UNKNOWN, -1);

  /* a group nobody is in */
  assert_cause (t, G_N_ELEMENTS (t), 99, ACS_CAUSE_UNKNOWN, -1);
  assert_cause (t, 0, 5, ACS_CAUSE_UNKNOWN, -1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/acs/switch", test_switch);
  g_test_add_func ("/acs/acs-bits-off", test_acs_bits_off);
  g_test_add_func ("/acs/multifunction", test_multifunction);
  g_test_add_func ("/acs/pci-bridge", test_pci_bridge);
  g_test_add_func ("/acs/quirk", test_quirk);
  g_test_add_func ("/acs/unknown", test_unknown);
  g_test_add_func ("/acs/alias", test_alias);
  return g_test_run ();
}

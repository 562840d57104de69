/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* pciconfig.c on hand-built config spaces: the ACS decision the kernel
 * makes per device, FLR and PM reset, and spaces that cannot be trusted. */
#include <errno.h>
#include <glib.h>
#include <string.h>

#include "pciconfig.h"

#define ACS_ALL (PCICONFIG_ACS_SV | PCICONFIG_ACS_RR | PCICONFIG_ACS_CR | PCICONFIG_ACS_UF)

typedef struct {
  uint8_t d[4096];
} Space;

static void
put16 (Space *s, size_t off, uint16_t v)
{
  s->d[off] = (uint8_t) v;
  s->d[off + 1] = (uint8_t) (v >> 8);
}

static void
put32 (Space *s, size_t off, uint32_t v)
{
  put16 (s, off, (uint16_t) v);
  put16 (s, off + 2, (uint16_t) (v >> 16));
}

/* A PCIe device of @type: the PCIe capability at 0x40 (FLR if @flr), a PM
 * capability at 0x60, and, if @acs_cap, an ACS capability at 0x100. */
static Space
pcie (int type, gboolean multifunction, gboolean flr, uint16_t acs_cap, uint16_t acs_ctrl)
{
  Space s;

  memset (&s, 0, sizeof s);
  put16 (&s, 0x00, 0x8086);
  put16 (&s, 0x02, 0x1234);
  put16 (&s, 0x06, 0x0010);
  s.d[0x0e] =
      (uint8_t) ((type == 4 || type == 6 || type == 7 ? 1 : 0) | (multifunction ? 0x80 : 0));
  s.d[0x34] = 0x40;
  s.d[0x40] = 0x10;
  s.d[0x41] = 0x60;
  put16 (&s, 0x42, (uint16_t) (0x0002 | type << 4));
  put32 (&s, 0x44, flr ? 1u << 28 : 0);
  s.d[0x60] = 0x01;
  s.d[0x61] = 0x00;
  put16 (&s, 0x64, 0x0008); /* No_Soft_Reset */
  if (acs_cap)
    {
      put32 (&s, 0x100, 0x000d | 1 << 16);
      put16 (&s, 0x104, acs_cap);
      put16 (&s, 0x106, acs_ctrl);
    }
  return s;
}

static PciConfig
parse (const Space *s, size_t size)
{
  PciConfig c;

  g_assert_cmpint (pciconfig_parse (s->d, size, &c), ==, 0);
  g_assert_null (c.malformed);
  return c;
}

static void
test_ports (void)
{
  Space s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, ACS_ALL, ACS_ALL);
  PciConfig c = parse (&s, sizeof s.d);

  g_assert_cmpint (c.port_type, ==, PCICONFIG_ROOT_PORT);
  g_assert_true (c.acs);
  g_assert_true (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));

  /* the capability is there, the bits are off: not isolating */
  s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, ACS_ALL, 0);
  c = parse (&s, sizeof s.d);
  g_assert_true (c.acs);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));

  /* one required bit off is enough */
  s = pcie (PCICONFIG_DOWNSTREAM_PORT, FALSE, FALSE, ACS_ALL, ACS_ALL & ~PCICONFIG_ACS_UF);
  c = parse (&s, sizeof s.d);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));

  /* what a port does not implement is hard-wired on */
  s = pcie (PCICONFIG_DOWNSTREAM_PORT, FALSE, FALSE, PCICONFIG_ACS_SV | PCICONFIG_ACS_RR,
            PCICONFIG_ACS_SV | PCICONFIG_ACS_RR);
  c = parse (&s, sizeof s.d);
  g_assert_true (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
  /* ...but never Egress Control */
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_EC));

  /* a root port without ACS does not isolate */
  s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, 0, 0);
  c = parse (&s, sizeof s.d);
  g_assert_false (c.acs);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
}

static void
test_endpoints (void)
{
  Space s = pcie (PCICONFIG_ENDPOINT, FALSE, FALSE, 0, 0);
  PciConfig c = parse (&s, sizeof s.d);

  /* a single function has no peer to reach */
  g_assert_true (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
  /* functions of one device without ACS between them */
  s = pcie (PCICONFIG_ENDPOINT, TRUE, FALSE, 0, 0);
  c = parse (&s, sizeof s.d);
  g_assert_true (c.multifunction);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
  /* ...and with it */
  s = pcie (PCICONFIG_ENDPOINT, TRUE, FALSE, PCICONFIG_ACS_RR | PCICONFIG_ACS_CR,
            PCICONFIG_ACS_RR | PCICONFIG_ACS_CR);
  c = parse (&s, sizeof s.d);
  g_assert_true (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
  s = pcie (PCICONFIG_RC_INTEGRATED_ENDPOINT, TRUE, FALSE, 0, 0);
  c = parse (&s, sizeof s.d);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
}

static void
test_never_isolating (void)
{
  Space s = pcie (PCICONFIG_PCIE_TO_PCI_BRIDGE, FALSE, FALSE, ACS_ALL, ACS_ALL);
  PciConfig c = parse (&s, sizeof s.d);

  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));

  /* conventional PCI: no PCIe capability at all */
  s = pcie (PCICONFIG_ENDPOINT, FALSE, FALSE, 0, 0);
  s.d[0x40] = 0x05; /* MSI instead of PCIe */
  c = parse (&s, sizeof s.d);
  g_assert_cmpint (c.port_type, ==, PCICONFIG_NOT_PCIE);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
  g_assert_cmpstr (pciconfig_port_type_to_string (c.port_type), ==, "conventional PCI");
}

static void
test_reset (void)
{
  Space s = pcie (PCICONFIG_ENDPOINT, FALSE, TRUE, 0, 0);
  PciConfig c = parse (&s, sizeof s.d);

  g_assert_true (c.flr);
  g_assert_true (c.pm);
  g_assert_true (c.pm_no_soft_reset);

  s = pcie (PCICONFIG_ENDPOINT, FALSE, FALSE, 0, 0);
  put16 (&s, 0x64, 0);
  c = parse (&s, sizeof s.d);
  g_assert_false (c.flr);
  g_assert_false (c.pm_no_soft_reset);

  /* conventional PCI with the Advanced Features capability's FLR */
  s.d[0x40] = 0x13;
  s.d[0x43] = 0x03;
  c = parse (&s, sizeof s.d);
  g_assert_true (c.flr);
}

static void
test_malformed (void)
{
  Space s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, ACS_ALL, ACS_ALL);
  PciConfig c;

  g_assert_cmpint (pciconfig_parse (s.d, 63, &c), ==, -EBADMSG);
  g_assert_nonnull (c.malformed);

  memset (s.d, 0xff, sizeof s.d);
  g_assert_cmpint (pciconfig_parse (s.d, sizeof s.d, &c), ==, -EBADMSG);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));

  /* a loop in the capability list */
  s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, ACS_ALL, ACS_ALL);
  s.d[0x61] = 0x40;
  g_assert_cmpint (pciconfig_parse (s.d, sizeof s.d, &c), ==, -EBADMSG);
  g_assert_nonnull (strstr (c.malformed, "loops"));
  g_assert_false (c.acs);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));

  /* a pointer into the header, or past what was read */
  s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, ACS_ALL, ACS_ALL);
  s.d[0x61] = 0x20;
  g_assert_cmpint (pciconfig_parse (s.d, sizeof s.d, &c), ==, -EBADMSG);
  s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, ACS_ALL, ACS_ALL);
  s.d[0x61] = 0xfc; /* a PM capability whose registers run past 256 bytes */
  s.d[0xfc] = 0x01;
  g_assert_cmpint (pciconfig_parse (s.d, 0x100, &c), ==, -EBADMSG);

  /* an extended capability that points at itself, or into the header */
  s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, ACS_ALL, ACS_ALL);
  put32 (&s, 0x100, 0x000d | 1 << 16 | 0x100u << 20);
  g_assert_cmpint (pciconfig_parse (s.d, sizeof s.d, &c), ==, -EBADMSG);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
  put32 (&s, 0x100, 0x000d | 1 << 16 | 0x40u << 20);
  g_assert_cmpint (pciconfig_parse (s.d, sizeof s.d, &c), ==, -EBADMSG);
  /* cut short inside the ACS capability */
  s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, ACS_ALL, ACS_ALL);
  g_assert_cmpint (pciconfig_parse (s.d, 0x106, &c), ==, -EBADMSG);

  /* the 64 bytes a non-root reader gets: no ACS known, not malformed,
   * and a port is then not trusted to isolate */
  s = pcie (PCICONFIG_ROOT_PORT, FALSE, FALSE, ACS_ALL, ACS_ALL);
  c = parse (&s, 64);
  g_assert_false (c.caps_read);
  g_assert_false (c.has_extended);
  g_assert_false (pciconfig_acs_enabled (&c, PCICONFIG_ACS_REQUIRED));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pciconfig/ports", test_ports);
  g_test_add_func ("/pciconfig/endpoints", test_endpoints);
  g_test_add_func ("/pciconfig/never-isolating", test_never_isolating);
  g_test_add_func ("/pciconfig/reset", test_reset);
  g_test_add_func ("/pciconfig/malformed", test_malformed);
  return g_test_run ();
}

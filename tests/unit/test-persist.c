/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* persist.c: the record of a persistent assignment, read back as
 * untrusted configuration: round trip, hand edits, truncation, hostile
 * contents (refused with a reason, never a crash), and the identity
 * check that keeps a replaced device from being bound. */
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "persist.h"

static PersistRecord
nic_record (void)
{
  PersistRecord r = { 0 };

  g_assert_true (address_parse ("0000:03:00.0", &r.address));
  r.vendor_id = 0x8086;
  r.device_id = 0x10d3;
  r.subsystem_vendor_id = 0x8086;
  r.subsystem_device_id = 0xa01f;
  r.class_code = 0x020000;
  r.n_members = 2;
  g_assert_true (address_parse ("0000:00:1c.0", &r.members[0]));
  r.members[1] = r.address;
  return r;
}

static int
parse (const char *text, PersistRecord *out, char *why)
{
  return persist_record_parse (text, strlen (text), out, why, 128);
}

static void
test_round_trip (void)
{
  PersistRecord r = nic_record (), back;
  g_autofree char *text = persist_record_format (&r);
  char why[128] = "", name[ADDRESS_STRLEN + 5];

  g_assert_nonnull (text);
  g_assert_true (g_str_has_prefix (text, "# vfiod: PCI device 0000:03:00.0"));
  g_assert_nonnull (strstr (text, "vfioctl reattach 0000:03:00.0"));
  g_assert_nonnull (strstr (text, "group=0000:00:1c.0 0000:03:00.0\n"));
  g_assert_cmpint (parse (text, &back, why), ==, 0);
  g_assert_cmpint (memcmp (&r, &back, sizeof r), ==, 0);
  g_assert_cmpstr (persist_record_name (&r.address, name), ==, "0000:03:00.0.conf");
}

static void
test_hand_edited (void)
{
  PersistRecord r;
  char why[128] = "";
  /* comments anywhere, upper-case hex, members in any order, no header */
  const char *text =
      "address=0000:03:00.0\n"
      "# the NIC\n"
      "\n"
      "vendor=0x8086\ndevice=0x10D3\nsubsystem_vendor=0x8086\nsubsystem_device=0xA01F\n"
      "class=0x20000\n"
      "group=0000:03:00.0 0000:00:1c.0\n";

  g_assert_cmpint (parse (text, &r, why), ==, 0);
  g_assert_cmphex (r.device_id, ==, 0x10d3);
  g_assert_cmphex (r.class_code, ==, 0x020000);
  g_assert_cmpuint (r.n_members, ==, 2);
  /* sorted */
  g_assert_cmpint (r.members[0].slot, ==, 0x1c);
}

static void
test_refused (void)
{
  static const struct {
    const char *text;
    const char *why;
  } bad[] = {
    { "", "newline" },
    { "address=0000:03:00.0", "newline" },                      /* truncated */
    { "address=0000:03:00.0\nvendor=0x8086\n", "no 'device'" }, /* keys lost */
    { "address=0000:03:00.0\nvendr=0x8086\n", "unknown key" },
    { "address=0000:03:00.0\naddress=0000:04:00.0\n", "given twice" },
    { "address=3:0.0\n", "not a PCI address" }, /* not normalised */
    { "address=0000:03:00.0/../x\n", "not a PCI address" },
    { "address 0000:03:00.0\n", "not key=value" },
    { "vendor=8086\n", "not 0x" },
    { "vendor=0x18086\n", "not 0x" },
    { "vendor=0x\n", "not 0x" },
    { "vendor=0x80 86\n", "not 0x" },
    { "vendor=0x8086\r\n", "not 0x" },
    { "class=0x1020000\n", "not 0x" },
    { "group=\n", "no group members" },
    { "group=0000:03:00.0 0000:03:00.0\n", "twice" },
    { "group=0000:03:00.0 x\n", "not a PCI address" },
  };
  char why[128];

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      PersistRecord r;
      why[0] = '\0';
      g_assert_cmpint (parse (bad[i].text, &r, why), ==, -EBADMSG);
      if (strstr (why, bad[i].why) == NULL)
        g_error ("%s: got '%s', wanted '%s'", bad[i].text, why, bad[i].why);
    }
}

static void
test_refused_whole (void)
{
  PersistRecord r = nic_record (), out;
  g_autofree char *text = persist_record_format (&r);
  g_autoptr (GString) many = g_string_new (NULL);
  g_autofree char *nul = NULL;
  char why[128] = "";
  char *group;

  /* its group must list the device itself */
  group = strstr (text, "group=");
  strcpy (group, "group=0000:00:1c.0\n");
  g_assert_cmpint (parse (text, &out, why), ==, -EBADMSG);
  g_assert_nonnull (strstr (why, "does not list the device"));

  /* more members than anyone has */
  g_string_append (many, "address=0000:00:00.0\nvendor=0x1\ndevice=0x1\nsubsystem_vendor=0x1\n"
                         "subsystem_device=0x1\nclass=0x1\ngroup=");
  for (int i = 0; i < PERSIST_MAX_MEMBERS + 1; i++)
    g_string_append_printf (many, "%s0000:%02x:%02x.%d", i ? " " : "", i / 32, i % 32, 0);
  g_string_append_c (many, '\n');
  g_assert_cmpint (persist_record_parse (many->str, many->len, &out, why, sizeof why), ==,
                   -EBADMSG);
  g_assert_nonnull (strstr (why, "more than"));

  /* a NUL inside, and too large */
  {
    char *formatted = persist_record_format (&r);
    nul = g_strdup (formatted);
    free (formatted);
  }
  g_assert_cmpint (persist_record_parse (nul, strlen (nul) + 1, &out, why, sizeof why), ==,
                   -EBADMSG);
  g_assert_cmpint (persist_record_parse (nul, PERSIST_MAX_SIZE + 1, &out, why, sizeof why), ==,
                   -EBADMSG);
}

static void
test_identity (void)
{
  PersistRecord r = nic_record ();
  char why[256] = "";

  g_assert_true (
      persist_identity_matches (&r, 0x8086, 0x10d3, 0x8086, 0xa01f, 0x020000, why, sizeof why));
  g_assert_false (
      persist_identity_matches (&r, 0x10ec, 0x8168, 0x1043, 0x8677, 0x020000, why, sizeof why));
  g_assert_cmpstr (why, ==,
                   "8086:10d3 (subsystem 8086:a01f, class 0x020000) recorded, "
                   "10ec:8168 (subsystem 1043:8677, class 0x020000) found");
  /* a subsystem or a class alone differing is another device too */
  g_assert_false (
      persist_identity_matches (&r, 0x8086, 0x10d3, 0x8086, 0x0000, 0x020000, why, sizeof why));
  g_assert_false (
      persist_identity_matches (&r, 0x8086, 0x10d3, 0x8086, 0xa01f, 0x020001, why, sizeof why));
}

/* vfiod.persistent on the kernel command line: only a clear "on" (or its
 * absence) lets the helper bind; the last word counts. */
static void
test_cmdline (void)
{
  static const struct {
    const char *cmdline;
    int enabled;
  } cases[] = {
    { "", 1 },
    { "BOOT_IMAGE=/vmlinuz root=/dev/sda2 ro quiet\n", 1 },
    { "quiet vfiod.persistent=0\n", 0 },
    { "vfiod.persistent=0 quiet", 0 },
    { "vfiod.persistent=off", 0 },
    { "vfiod.persistent=no", 0 },
    { "vfiod.persistent=false", 0 },
    { "vfiod.persistent=1", 1 },
    { "vfiod.persistent", 1 },
    { "vfiod.persistent=0 vfiod.persistent=1", 1 },
    { "vfiod.persistent=1 vfiod.persistent=0", 0 },
    { "\"vfiod.persistent=0\"", 0 },
    { "acpi_osi=\"Windows 2015\" vfiod.persistent=0", 0 },
    { "foo=\"a vfiod.persistent=0 b\"", 1 }, /* inside another's value */
    { "vfiod.persistentx=0", 1 },            /* another parameter */
    { "xvfiod.persistent=0", 1 },
    { "vfiod.persistent=", -EINVAL },
    { "vfiod.persistent=maybe", -EINVAL },
    { "vfiod.persistent=00", -EINVAL },
    { "vfiod.persistent=0\tquiet", 0 },
  };

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s", cases[i].cmdline);
      g_assert_cmpint (persist_cmdline_enabled (cases[i].cmdline), ==, cases[i].enabled);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/persist/round-trip", test_round_trip);
  g_test_add_func ("/persist/hand-edited", test_hand_edited);
  g_test_add_func ("/persist/refused", test_refused);
  g_test_add_func ("/persist/refused-whole", test_refused_whole);
  g_test_add_func ("/persist/identity", test_identity);
  g_test_add_func ("/persist/cmdline", test_cmdline);
  return g_test_run ();
}

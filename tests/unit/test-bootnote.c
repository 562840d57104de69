/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* bootnote.c: the boot helper's notes in /run, read back as untrusted
 * input: round trip of every state, hostile and malformed texts refused
 * with a reason (never a crash), and what the daemon reports of each. */
#include <errno.h>
#include <glib.h>
#include <stdlib.h>
#include <string.h>

#include "bootnote.h"

static BootNote
nic_note (BootNoteState state)
{
  BootNote n;

  memset (&n, 0, sizeof n); /* padding too: compared whole */
  g_assert_true (address_parse ("0000:02:00.0", &n.address));
  n.state = state;
  n.vendor_id = 0x8086;
  n.device_id = 0x10d3;
  n.subsystem_vendor_id = 0x8086;
  n.subsystem_device_id = 0xa01f;
  n.class_code = 0x020000;
  if (state == BOOT_NOTE_GIVEN_BACK)
    strcpy (n.driver, "e1000e");
  if (state == BOOT_NOTE_HELD)
    {
      n.has_group = true;
      n.group = 5;
    }
  return n;
}

static void
test_round_trip (void)
{
  for (int s = 0; s < BOOT_NOTE_N_STATES; s++)
    {
      BootNote n = nic_note ((BootNoteState) s), back;
      g_autofree char *text = boot_note_format (&n);
      char why[128] = "";

      g_assert_nonnull (text);
      g_assert_cmpint (boot_note_parse (text, strlen (text), &back, why, sizeof why), ==, 0);
      g_assert_cmpmem (&n, sizeof n, &back, sizeof back);
    }
  /* given back to no driver: an empty name */
  {
    BootNote n = nic_note (BOOT_NOTE_GIVEN_BACK), back;
    g_autofree char *text = NULL;

    n.driver[0] = '\0';
    text = boot_note_format (&n);
    g_assert_cmpint (boot_note_parse (text, strlen (text), &back, NULL, 0), ==, 0);
    g_assert_cmpstr (back.driver, ==, "");
  }
}

static void
test_refused (void)
{
  BootNote n = nic_note (BOOT_NOTE_INITRAMFS), out;
  g_autofree char *good = boot_note_format (&n);
  g_autofree char *huge = g_strnfill (BOOT_NOTE_MAX_SIZE + 1, '#');
  const struct {
    const char *what, *text;
  } cases[] = {
    { "empty", "" },
    { "no newline at the end", "address=0000:02:00.0" },
    { "not key=value", "hello\n" },
    { "unknown key", "address=0000:02:00.0\nfoo=1\n" },
    { "unknown state", "state=bogus\n" },
    { "address spelt otherwise", "address=02:00.0\n" },
    { "vendor too long", "vendor=0x123456\n" },
    { "driver name with a slash", "driver=../x\n" },
    { "group not a number", "group=-1\n" },
    { "group with a leading zero", "group=05\n" },
    { "missing keys", "address=0000:02:00.0\nstate=initramfs\n" },
  };
  char why[128];

  for (size_t i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_test_message ("%s", cases[i].what);
      why[0] = '\0';
      g_assert_cmpint (
          boot_note_parse (cases[i].text, strlen (cases[i].text), &out, why, sizeof why), ==,
          -EBADMSG);
      g_assert_cmpstr (why, !=, "");
    }
  /* a key twice, a NUL byte, a driver where the state has none, too large */
  {
    g_autofree char *twice = g_strconcat (good, "state=root\n", NULL);
    g_autofree char *driver = g_strconcat (good, "driver=e1000e\n", NULL);
    g_autofree char *nul = g_strdup (good);
    nul[3] = '\0';
    g_assert_cmpint (boot_note_parse (twice, strlen (twice), &out, NULL, 0), ==, -EBADMSG);
    g_assert_cmpint (boot_note_parse (driver, strlen (driver), &out, NULL, 0), ==, -EBADMSG);
    g_assert_cmpint (boot_note_parse (nul, strlen (good), &out, NULL, 0), ==, -EBADMSG);
    g_assert_cmpint (boot_note_parse (huge, strlen (huge), &out, NULL, 0), ==, -EBADMSG);
  }
  /* held without its group, given back without its driver */
  {
    BootNote h = nic_note (BOOT_NOTE_HELD);
    g_autofree char *text = boot_note_format (&h);
    char *line = strstr (text, "group=");
    *line = '\0';
    g_assert_cmpint (boot_note_parse (text, strlen (text), &out, NULL, 0), ==, -EBADMSG);
  }
}

static void
test_describe (void)
{
  char buf[128];
  BootNote n;

  n = nic_note (BOOT_NOTE_GIVEN_BACK);
  g_assert_cmpstr (boot_note_describe (&n, buf, sizeof buf), ==,
                   "stale-initramfs: given back to e1000e");
  n = nic_note (BOOT_NOTE_HELD);
  g_assert_cmpstr (boot_note_describe (&n, buf, sizeof buf), ==,
                   "stale-initramfs: left on vfio-pci: its group 5 is in use");
  n = nic_note (BOOT_NOTE_FAILED);
  g_assert_true (g_str_has_prefix (boot_note_describe (&n, buf, sizeof buf), "stale-initramfs: "));
  g_assert_true (boot_note_is_stale (&n));
  for (BootNoteState s = BOOT_NOTE_INITRAMFS; s <= BOOT_NOTE_KEPT; s++)
    {
      n = nic_note (s);
      g_assert_null (boot_note_describe (&n, buf, sizeof buf));
      g_assert_false (boot_note_is_stale (&n));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bootnote/round-trip", test_round_trip);
  g_test_add_func ("/bootnote/refused", test_refused);
  g_test_add_func ("/bootnote/describe", test_describe);
  return g_test_run ();
}

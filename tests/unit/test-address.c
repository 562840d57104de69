/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <glib.h>

#include "address.h"

typedef struct {
  const char *text;
  const char *normalised;
} ValidCase;

static void
test_valid_forms (void)
{
  static const ValidCase cases[] = {
    { "0000:03:00.0", "0000:03:00.0" },
    { "03:00.0", "0000:03:00.0" },      /* short form: domain 0000 */
    { "0000:0A:1F.7", "0000:0a:1f.7" }, /* upper case */
    { "0000:0a:1f.7", "0000:0a:1f.7" },
    { "ff:1f.7", "0000:ff:1f.7" },
    { "10000:00:02.0", "10000:00:02.0" },   /* Intel VMD domain, 5 digits */
    { "0010000:00:02.0", "10000:00:02.0" }, /* leading zeros in 7 digits */
    { "ffffffff:ff:1f.7", "ffffffff:ff:1f.7" },
    { "DEAD:Be:0c.3", "dead:be:0c.3" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      PciAddress a;
      char buf[ADDRESS_STRLEN];

      g_test_message ("%s", cases[i].text);
      g_assert_true (address_parse (cases[i].text, &a));
      g_assert_cmpstr (address_format (&a, buf), ==, cases[i].normalised);
    }
}

static void
test_malformed (void)
{
  static const char *const cases[] = {
    "",
    ":",
    "..",
    "/",
    "../../../etc",
    "0000:03:00.0/",
    "0000:03:00.0/../../x",
    "0000:03:00.0 ", /* trailing blank */
    " 0000:03:00.0", /* leading blank */
    "0000:03:00.0\n",
    "0000:03:00.08",     /* trailing junk */
    "0000:03:00.8",      /* function above 7 */
    "0000:03:20.0",      /* slot above 1f */
    "000:03:00.0",       /* domain of 3 digits */
    "000000000:03:00.0", /* domain of 9 digits */
    "0000:003:00.0",     /* bus of 3 digits */
    "0000:3:00.0",       /* bus of 1 digit */
    "0000:03:0.0",       /* slot of 1 digit */
    "0000:03:00.",       /* no function */
    "0000:03:00",        /* no function at all */
    "0000:03.00.0",
    "0000-03:00.0",
    "0x00:03:00.0",
    "+000:03:00.0",
    "0000:0g:00.0", /* not hex */
    "0000:03:00:0",
    "0000:0000:03:00.0", /* three colons */
    "03:00.0.0",
    "pci0000:00",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      PciAddress a = { .domain = 0x1234, .bus = 5, .slot = 6, .function = 7 };

      g_test_message ("%s", cases[i]);
      g_assert_false (address_parse (cases[i], &a));
      /* a rejected address leaves the output untouched */
      g_assert_cmpuint (a.domain, ==, 0x1234);
      g_assert_cmpuint (a.function, ==, 7);
    }
  g_assert_false (address_parse (NULL, NULL));
}

static void
test_overlong (void)
{
  g_autofree char *long_text = g_strnfill (4096, '0');
  PciAddress a;

  g_assert_false (address_parse (long_text, &a));
}

static void
test_order (void)
{
  const char *sorted[] = { "0000:00:00.0", "0000:00:01.0", "0000:00:01.1", "0000:00:1f.7",
                           "0000:01:00.0", "0000:ff:00.0", "0001:00:00.0", "10000:00:00.0" };

  for (gsize i = 0; i + 1 < G_N_ELEMENTS (sorted); i++)
    {
      PciAddress a, b;

      g_assert_true (address_parse (sorted[i], &a));
      g_assert_true (address_parse (sorted[i + 1], &b));
      g_assert_cmpint (address_compare (&a, &b), ==, -1);
      g_assert_cmpint (address_compare (&b, &a), ==, 1);
      g_assert_true (address_equal (&a, &a));
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/address/valid-forms", test_valid_forms);
  g_test_add_func ("/address/malformed", test_malformed);
  g_test_add_func ("/address/overlong", test_overlong);
  g_test_add_func ("/address/order", test_order);
  return g_test_run ();
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the Manager's method descriptors (manager-private.h): the
 * rules the engine relies on, checked on the tables as they ship. */
#include <glib.h>
#include <string.h>

#include "manager-private.h"
#include "names.h"

static const MethodSpec *const families[] = { manager_reads, manager_changes, manager_uses };

#define FOR_EACH_SPEC(s)                                 \
  for (gsize f_ = 0; f_ < G_N_ELEMENTS (families); f_++) \
    for (const MethodSpec *s = families[f_]; s->method.type != _SD_BUS_VTABLE_END; s++)

static const char *
member (const MethodSpec *s)
{
  return s->method.x.method.member;
}

/* Fail closed: whatever is not a read asks polkit (authorize names the
 * actions) before a worker acts; a read asks nobody and does nothing. */
static void
test_reads_and_changes (void)
{
  guint n = 0;

  FOR_EACH_SPEC (s)
  {
    n++;
    g_test_message ("%s", member (s));
    g_assert_true (s->method.type == _SD_BUS_VTABLE_METHOD);
    g_assert_true (s->method.x.method.handler == engine_method);
    g_assert_true (s->method.flags & SD_BUS_VTABLE_UNPRIVILEGED);
    g_assert_nonnull (s->parse);
    if (s->flags & METHOD_READ)
      {
        g_assert_null (s->authorize);
        g_assert_null (s->work);
        g_assert_nonnull (s->prepare);
        g_assert_false (s->flags & (METHOD_GROUP | METHOD_WATCHDOG));
      }
    else
      {
        g_assert_nonnull (s->authorize);
        g_assert_nonnull (s->work);
      }
    /* only the methods that write sysfs are watched, and they hold the
     * group's lock while they do */
    if (s->flags & METHOD_WATCHDOG)
      g_assert_true (s->flags & METHOD_GROUP);
  }
  g_assert_cmpuint (n, ==, 11);
}

/* Every method of the contract has one descriptor, and only one. */
static void
test_every_method_once (void)
{
  const char *contract[] = {
    VFIOD_METHOD_GET_GROUP,
    VFIOD_METHOD_LIST_DEVICES,
    VFIOD_METHOD_EXPLAIN_GROUP,
    VFIOD_METHOD_LIST_PERSISTENT,
    VFIOD_METHOD_DETACH_DEVICE,
    VFIOD_METHOD_REATTACH_DEVICE,
    VFIOD_METHOD_OPEN_GROUP,
    VFIOD_METHOD_OPEN_DEVICE,
    VFIOD_METHOD_GRANT_ACCESS,
    VFIOD_METHOD_REVOKE_ACCESS,
    VFIOD_METHOD_SET_LOCKED_MEMORY_LIMIT,
  };

  for (gsize i = 0; i < G_N_ELEMENTS (contract); i++)
    {
      guint found = 0;
      FOR_EACH_SPEC (s)
      found += strcmp (member (s), contract[i]) == 0;
      g_assert_cmpuint (found, ==, 1);
    }
  /* the moves and the uses act on a group; SetLockedMemoryLimit on a process */
  FOR_EACH_SPEC (s)
  if (strcmp (member (s), VFIOD_METHOD_SET_LOCKED_MEMORY_LIMIT) == 0)
    g_assert_false (s->flags & METHOD_GROUP);
  else if (!(s->flags & METHOD_READ))
    g_assert_true (s->flags & METHOD_GROUP);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/methods/reads-and-changes", test_reads_and_changes);
  g_test_add_func ("/methods/every-method-once", test_every_method_once);
  return g_test_run ();
}

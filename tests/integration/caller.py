#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One call to vfiod from its own process, for tests that need a caller
with another uid (run under setpriv).  argv[1]: JSON {"method",
"signature", "args", "interactive"}.  Prints JSON: {"sender": its unique
bus name, "reply": [...]} or {"sender", "error": name, "message"}."""

import json
import os
import sys

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402


def main():
    request = json.loads(sys.argv[1])
    address = os.environ['DBUS_SYSTEM_BUS_ADDRESS']
    conn = Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)
    signature = request.get('signature')
    params = GLib.Variant('(%s)' % signature, tuple(request['args'])) if signature else None
    flags = Gio.DBusCallFlags.NONE
    if request.get('interactive'):
        flags |= Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
    out = {'sender': conn.get_unique_name(), 'uid': os.getuid()}
    try:
        reply = conn.call_sync('org.freedesktop.vfio1', '/org/freedesktop/vfio1', 'org.freedesktop.vfio1.Manager',
                               request['method'], params, None, flags, 60000, None)
        out['reply'] = list(reply.unpack())
    except GLib.Error as e:
        name = Gio.DBusError.get_remote_error(e)
        prefix = 'GDBus.Error:%s: ' % name
        out['error'] = name
        out['message'] = e.message[len(prefix):] if e.message.startswith(prefix) else e.message
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()

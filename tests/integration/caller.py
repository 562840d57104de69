#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""One call to vfiod from its own process, for tests that need a caller
with another uid (run under setpriv).  argv[1]: JSON {"method",
"signature", "args", "interactive"}.  Prints JSON: {"sender": its unique
bus name, "reply": [...]} or {"sender", "error": name, "message"}.
With "count": N, makes N calls at once on one connection and prints one
JSON line per outcome as it arrives (after a first line with "sender").
File descriptors ('h' arguments): an argument "@pidfd" is a pidfd of
request["pidfd_of"] (a pid, or "self"), "@fd" the file request["fd_path"]
opened read-only; received ones are described in "fds" (what each is:
readlink of /proc/self/fd, and its inode)."""

import json
import os
import sys

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402


def many(conn, request, params, flags):
    """"count" calls at once on one connection; prints each outcome as a
    JSON line as soon as it arrives (in order of arrival)."""
    loop = GLib.MainLoop()
    left = [request['count']]

    def done(source, result, index):
        out = {'index': index}
        try:
            out['reply'] = list(conn.call_finish(result).unpack())
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e)
            prefix = 'GDBus.Error:%s: ' % name
            out['error'] = name
            out['message'] = e.message[len(prefix):] if e.message.startswith(prefix) else e.message
        print(json.dumps(out), flush=True)
        left[0] -= 1
        if left[0] == 0:
            loop.quit()

    for i in range(request['count']):
        conn.call('org.freedesktop.vfio1', '/org/freedesktop/vfio1', 'org.freedesktop.vfio1.Manager',
                  request['method'], params, None, flags, 120000, None, done, i)
    loop.run()


def main():
    request = json.loads(sys.argv[1])
    address = os.environ['DBUS_SYSTEM_BUS_ADDRESS']
    conn = Gio.DBusConnection.new_for_address_sync(
        address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION,
        None, None)
    signature = request.get('signature')
    fd_list = None
    args = list(request['args'])
    for i, a in enumerate(args):
        if a in ('@pidfd', '@fd'):
            if fd_list is None:
                fd_list = Gio.UnixFDList.new()
            if a == '@pidfd':
                target = request['pidfd_of']
                if target == 'exited':
                    # a pidfd of a process that has exited and been reaped
                    pid = os.fork()
                    if pid == 0:
                        os._exit(0)
                    fd = os.pidfd_open(pid)
                    os.waitpid(pid, 0)
                else:
                    fd = os.pidfd_open(os.getpid() if target == 'self' else int(target))
            else:
                fd = os.open(request['fd_path'], os.O_RDONLY)
            args[i] = fd_list.append(fd)
            os.close(fd)
    params = GLib.Variant('(%s)' % signature, tuple(args)) if signature else None
    flags = Gio.DBusCallFlags.NONE
    if request.get('interactive'):
        flags |= Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
    if request.get('count'):
        print(json.dumps({'sender': conn.get_unique_name()}), flush=True)
        many(conn, request, params, flags)
        return
    out = {'sender': conn.get_unique_name(), 'uid': os.getuid()}
    try:
        reply, fds = conn.call_with_unix_fd_list_sync(
            'org.freedesktop.vfio1', '/org/freedesktop/vfio1', 'org.freedesktop.vfio1.Manager',
            request['method'], params, None, flags, 60000, fd_list, None)
        out['reply'] = list(reply.unpack())
        if fds is not None:
            out['fds'] = []
            for fd in fds.steal_fds():
                st = os.fstat(fd)
                out['fds'].append({'target': os.readlink('/proc/self/fd/%d' % fd), 'ino': st.st_ino,
                                   'writable': (os.get_blocking(fd), bool(__import__('fcntl').fcntl(
                                       fd, __import__('fcntl').F_GETFL) & os.O_RDWR))[1]})
                os.close(fd)
    except GLib.Error as e:
        name = Gio.DBusError.get_remote_error(e)
        prefix = 'GDBus.Error:%s: ' % name
        out['error'] = name
        out['message'] = e.message[len(prefix):] if e.message.startswith(prefix) else e.message
    json.dump(out, sys.stdout)


if __name__ == '__main__':
    main()

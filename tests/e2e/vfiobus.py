#!/usr/bin/python3
"""vfiod's D-Bus API from Python (GDBus through python3-gi), for the e2e guest scripts.

Unlike vfioctl, this keeps the D-Bus error *name* (GroupNotViable, GroupBusy, AccessDenied...)
and the plan dictionaries exactly as the service sent them, and can set or clear the
allow-interactive-authorization flag per call.

As a library (in the guest script, as root):

    bus = vfiobus.Client()
    r = bus.detach("0000:00:05.0", vfiobus.GROUP)   # -> Reply(ok, value, error, message, seconds)

The live model (ObjectManager, Device and Group objects, PropertiesChanged):

    w = vfiobus.ModelWatcher()                       # own connection, GDBus ObjectManagerClient
    mark = len(w.signals); ...; w.wait(lambda: w.since(mark, vfiobus.device_path(a)), 20)

As a program (`vfiobus.py serve`), it answers one JSON request per line on stdin with one JSON
reply per line on stdout, so a guest script can run a single long-lived caller as another uid
(setpriv) instead of starting Python once per call:

    {"method": "DetachDevice", "args": ["0000:03:00.0", 0], "interactive": false}
"""

import json
import os
import sys
import time

import gi

gi.require_version("Gio", "2.0")
from gi.repository import Gio, GLib  # noqa: E402

NAME = "org.freedesktop.vfio1"
PATH = "/org/freedesktop/vfio1"
IFACE = "org.freedesktop.vfio1.Manager"
ERR = "org.freedesktop.vfio1.Error."

GROUP, DRY_RUN, FORCE = 0x1, 0x2, 0x4

SIGNATURES = {"GetGroup": "(s)", "ListDevices": "()", "DetachDevice": "(st)",
              "ReattachDevice": "(st)", "OpenGroup": "(st)", "GrantAccess": "(st)",
              "RevokeAccess": "(st)", "SetLockedMemoryLimit": "(ht)", "ExplainGroup": "(s)"}
REPLY_TYPES = {"GetGroup": "(uaa{sv})", "ListDevices": "(aa{sv})",
               "DetachDevice": "(aa{sv})", "ReattachDevice": "(aa{sv})",
               "OpenGroup": "(uh)", "GrantAccess": "(aa{sv})", "RevokeAccess": "(aa{sv})",
               "SetLockedMemoryLimit": "()", "ExplainGroup": "(a{sv})"}
# An argument of type h given as this string: a pidfd of the calling process itself.
SELF_PIDFD = "self-pidfd"


class Reply(dict):
    """{"ok", "value", "error" (D-Bus error name or None), "message", "seconds"}."""

    def __getattr__(self, k):
        return self[k]

    def short_error(self):
        """The error name without the vfiod / D-Bus prefix, e.g. "GroupBusy"."""
        return (self["error"] or "").rsplit(".", 1)[-1] or None


class Client:
    def __init__(self, address=None):
        address = address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS",
                                            "unix:path=/run/dbus/system_bus_socket")
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)

    def call(self, method, *args, interactive=False, timeout=120):
        """Handles (h) go as a Gio.UnixFDList: an int is an fd of ours, SELF_PIDFD a pidfd of
        this process. A reply's fds are closed at once; each handle reads "fd" in the value."""
        fds, args, opened = Gio.UnixFDList.new(), list(args), []
        sig = SIGNATURES[method][1:-1]
        for i, ch in enumerate(sig):
            if ch == "h":
                fd = args[i]
                if fd == SELF_PIDFD:
                    fd = os.pidfd_open(os.getpid())
                    opened.append(fd)
                args[i] = fds.append(fd)
        for fd in opened:
            os.close(fd)
        params = GLib.Variant(SIGNATURES[method], tuple(args))
        flags = Gio.DBusCallFlags.NONE
        if interactive:
            flags |= Gio.DBusCallFlags.ALLOW_INTERACTIVE_AUTHORIZATION
        t = time.monotonic()
        try:
            v, out_fds = self.conn.call_with_unix_fd_list_sync(
                NAME, PATH, IFACE, method, params, GLib.VariantType(REPLY_TYPES[method]), flags,
                int(timeout * 1000), fds if fds.get_length() else None, None)
            value = list(v.unpack())
            if out_fds is not None:
                for fd in out_fds.steal_fds():
                    os.close(fd)
                value = ["fd" if ch == "h" else x
                         for ch, x in zip(REPLY_TYPES[method][1:-1].replace("aa{sv}", "A"),
                                          value)]
            return Reply(ok=True, value=value[0] if len(value) == 1 else
                         None if not value else value,
                         error=None, message=None, seconds=round(time.monotonic() - t, 3))
        except GLib.Error as e:
            name = Gio.DBusError.get_remote_error(e)
            message = e.message
            prefix = f"GDBus.Error:{name}: "
            if name and message.startswith(prefix):
                message = message[len(prefix):]
            return Reply(ok=False, value=None, error=name or f"GLib.Error.{e.domain}.{e.code}",
                         message=message, seconds=round(time.monotonic() - t, 3))

    def get_group(self, addr, **kw):
        return self.call("GetGroup", addr, **kw)

    def list_devices(self, **kw):
        return self.call("ListDevices", **kw)

    def detach(self, addr, flags=0, **kw):
        return self.call("DetachDevice", addr, flags, **kw)

    def reattach(self, addr, flags=0, **kw):
        return self.call("ReattachDevice", addr, flags, **kw)


DEVICE_IFACE = "org.freedesktop.vfio1.Device"
GROUP_IFACE = "org.freedesktop.vfio1.Group"
PROPERTIES_IFACE = "org.freedesktop.DBus.Properties"


def device_path(addr):
    """The org.freedesktop.vfio1.Device object of a normalised address."""
    return f"{PATH}/device/" + addr.replace(":", "_").replace(".", "_")


def group_path(number):
    return f"{PATH}/group/{number}"


class ModelWatcher:
    """vfiod's live model as a GLib client sees it: a Gio.DBusObjectManagerClient on the
    ObjectManager at /org/freedesktop/vfio1 (its proxies' cached properties are the client's
    view) plus every raw PropertiesChanged signal vfiod sends, each with the monotonic time its
    callback ran, so a test can count signals per object and measure latencies.

    Callbacks run only while the thread-default main context is iterated: call pump() or
    wait() (they iterate it, sleeping `tick` s between rounds: the time resolution)."""

    def __init__(self, address=None, tick=0.005):
        address = address or os.environ.get("DBUS_SYSTEM_BUS_ADDRESS",
                                            "unix:path=/run/dbus/system_bus_socket")
        self.tick = tick
        self.ctx = GLib.MainContext.default()
        self.conn = Gio.DBusConnection.new_for_address_sync(
            address, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT |
            Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
        # {"t", "path", "iface", "changed": {name: value}, "invalidated": [names]}
        self.signals = []
        self.added, self.removed = [], []
        self.manager = Gio.DBusObjectManagerClient.new_sync(
            self.conn, Gio.DBusObjectManagerClientFlags.DO_NOT_AUTO_START, NAME, PATH,
            None, None, None)
        self.manager.connect("object-added",
                             lambda m, o: self.added.append(o.get_object_path()))
        self.manager.connect("object-removed",
                             lambda m, o: self.removed.append(o.get_object_path()))
        self.sub = self.conn.signal_subscribe(NAME, PROPERTIES_IFACE, "PropertiesChanged", None,
                                              None, Gio.DBusSignalFlags.NONE, self._raw, None)

    def _raw(self, conn, sender, path, iface, signal, params, data):
        iface_name, changed, invalidated = params.unpack()
        self.signals.append({"t": time.monotonic(), "path": path, "iface": iface_name,
                             "changed": changed, "invalidated": list(invalidated)})

    def close(self):
        self.conn.signal_unsubscribe(self.sub)
        self.pump(0)
        self.conn.close_sync(None)

    def _iterate(self):
        while self.ctx.iteration(False):
            pass

    def pump(self, seconds):
        deadline = time.monotonic() + seconds
        while True:
            self._iterate()
            if time.monotonic() >= deadline:
                return
            time.sleep(self.tick)

    def wait(self, cond, timeout):
        """Iterate until cond() is true (-> True) or timeout s passed (-> False)."""
        deadline = time.monotonic() + timeout
        while True:
            self._iterate()
            if cond():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.tick)

    def paths(self, kind):
        """Object paths of kind "device" or "group", sorted."""
        prefix = f"{PATH}/{kind}/"
        return sorted(o.get_object_path() for o in self.manager.get_objects()
                      if o.get_object_path().startswith(prefix))

    def prop(self, path, iface, name):
        """A property as the ObjectManagerClient's proxy caches it (None: no such object)."""
        proxy = self.manager.get_interface(path, iface)
        value = proxy.get_cached_property(name) if proxy else None
        return value.unpack() if value is not None else None

    def since(self, mark, path=None):
        """Signals received after signals[:mark], optionally only those of one object."""
        return [s for s in self.signals[mark:] if path is None or s["path"] == path]


class Remote:
    """A `vfiobus.py serve` child, e.g. as another uid: remote.call("DetachDevice", addr, 0)."""

    def __init__(self, argv_prefix=()):
        import subprocess
        self.proc = subprocess.Popen(list(argv_prefix) + ["/usr/bin/python3", __file__, "serve"],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        hello = json.loads(self.proc.stdout.readline() or "null")
        if not hello or not hello.get("ready"):
            raise RuntimeError(f"vfiobus serve did not start: {hello}")
        self.uid = hello.get("uid")

    def call(self, method, *args, interactive=False, timeout=120):
        self.proc.stdin.write(json.dumps({"method": method, "args": list(args),
                                          "interactive": interactive,
                                          "timeout": timeout}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("vfiobus serve exited")
        return Reply(json.loads(line))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(10)


def serve():
    try:
        c = Client()
        print(json.dumps({"ready": True, "uid": os.getuid()}), flush=True)
    except GLib.Error as e:
        print(json.dumps({"ready": False, "error": e.message}), flush=True)
        return 1
    for line in sys.stdin:
        req = json.loads(line)
        if req["method"] == "memlock":      # this process's RLIMIT_MEMLOCK, [soft, hard]
            import resource
            print(json.dumps(Reply(ok=True, value=list(resource.getrlimit(
                resource.RLIMIT_MEMLOCK)), error=None, message=None, seconds=0)), flush=True)
            continue
        r = c.call(req["method"], *req["args"], interactive=req.get("interactive", False),
                   timeout=req.get("timeout", 120))
        print(json.dumps(r), flush=True)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["serve"]:
        sys.exit(serve())
    sys.exit(__doc__)

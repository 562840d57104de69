#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""A stand-in for vfiod's live model, until the daemon publishes it: owns
org.freedesktop.vfio1 on the bus of DBUS_SYSTEM_BUS_ADDRESS and exports an
org.freedesktop.DBus.ObjectManager at /org/freedesktop/vfio1 with device
and group objects as the contract describes them (common/vfiod-names.h,
"Live model").

    fake_model.py MODEL.json

MODEL.json: {"objects": [{"path": ..., "interface": ...,
             "properties": {"Name": ["signature", value], ...}}, ...]}

The test drives it through FAKE_INTERFACE at FAKE_PATH:
  SetProperties(o path, a{sv} changes)  new values, one PropertiesChanged
                                        with all of them (even unchanged)
  AddObject(o path, s interface, a{sv})  export, then InterfacesAdded
  RemoveObject(o path)                   unexport, then InterfacesRemoved
  LoadCount() -> u                       GetManagedObjects answered so far
"""

import json
import signal
import sys

import gi
gi.require_version('Gio', '2.0')
from gi.repository import Gio, GLib  # noqa: E402

BUS_NAME = 'org.freedesktop.vfio1'
ROOT = '/org/freedesktop/vfio1'
OBJECT_MANAGER = 'org.freedesktop.DBus.ObjectManager'
PROPERTIES = 'org.freedesktop.DBus.Properties'
FAKE_PATH = '/org/freedesktop/vfio1test'
FAKE_INTERFACE = 'org.freedesktop.vfio1test.FakeModel'

XML = '''<node>
  <interface name="org.freedesktop.DBus.ObjectManager">
    <method name="GetManagedObjects">
      <arg name="objects" type="a{oa{sa{sv}}}" direction="out"/>
    </method>
    <signal name="InterfacesAdded">
      <arg name="object" type="o"/><arg name="interfaces" type="a{sa{sv}}"/>
    </signal>
    <signal name="InterfacesRemoved">
      <arg name="object" type="o"/><arg name="interfaces" type="as"/>
    </signal>
  </interface>
  <interface name="org.freedesktop.vfio1.Device">
    <property name="Address" type="s" access="read"/>
    <property name="Group" type="o" access="read"/>
    <property name="VendorId" type="q" access="read"/>
    <property name="DeviceId" type="q" access="read"/>
    <property name="SubsystemVendorId" type="q" access="read"/>
    <property name="SubsystemDeviceId" type="q" access="read"/>
    <property name="Class" type="u" access="read"/>
    <property name="Vendor" type="s" access="read"/>
    <property name="Name" type="s" access="read"/>
    <property name="Driver" type="s" access="read"/>
    <property name="State" type="s" access="read"/>
    <property name="Bridge" type="b" access="read"/>
    <property name="InUse" type="s" access="read"/>
  </interface>
  <interface name="org.freedesktop.vfio1.Group">
    <property name="Number" type="u" access="read"/>
    <property name="Devices" type="ao" access="read"/>
    <property name="Viable" type="b" access="read"/>
    <property name="InUse" type="s" access="read"/>
  </interface>
  <interface name="org.freedesktop.vfio1test.FakeModel">
    <method name="SetProperties">
      <arg name="path" type="o" direction="in"/><arg name="changes" type="a{sv}" direction="in"/>
    </method>
    <method name="AddObject">
      <arg name="path" type="o" direction="in"/><arg name="interface" type="s" direction="in"/>
      <arg name="properties" type="a{sv}" direction="in"/>
    </method>
    <method name="RemoveObject">
      <arg name="path" type="o" direction="in"/>
    </method>
    <method name="LoadCount">
      <arg name="count" type="u" direction="out"/>
    </method>
  </interface>
</node>'''

NODE = Gio.DBusNodeInfo.new_for_xml(XML)


class FakeModel:
    def __init__(self, conn, objects):
        self.conn = conn
        self.objects = {}       # path -> (interface, {name: GLib.Variant}), in order
        self.ids = {}
        self.loads = 0
        conn.register_object(ROOT, NODE.lookup_interface(OBJECT_MANAGER), self.on_manager_call,
                             None, None)
        conn.register_object(FAKE_PATH, NODE.lookup_interface(FAKE_INTERFACE), self.on_fake_call,
                             None, None)
        for o in objects:
            props = {k: GLib.Variant(sig, value) for k, (sig, value) in o['properties'].items()}
            self.export(o['path'], o['interface'], props)

    def export(self, path, interface, props):
        self.objects[path] = (interface, dict(props))
        self.ids[path] = self.conn.register_object(path, NODE.lookup_interface(interface), None,
                                                   self.on_get_property, None)

    def on_get_property(self, conn, sender, path, interface, name):
        return self.objects[path][1][name]

    def on_manager_call(self, conn, sender, path, interface, method, params, invocation):
        self.loads += 1
        objects = {p: {iface: props, PROPERTIES: {}} for p, (iface, props) in self.objects.items()}
        invocation.return_value(GLib.Variant('(a{oa{sa{sv}}})', (objects,)))

    def on_fake_call(self, conn, sender, path, interface, method, params, invocation):
        args = params.unpack()
        if method == 'LoadCount':
            invocation.return_value(GLib.Variant('(u)', (self.loads,)))
            return
        if method == 'SetProperties':
            target, changes = args
            # unpack() lost the variants' types: take them from the message
            changes = {k: params.get_child_value(1).lookup_value(k, None) for k in changes}
            iface, props = self.objects[target]
            props.update(changes)
            conn.emit_signal(None, target, PROPERTIES, 'PropertiesChanged',
                             GLib.Variant('(sa{sv}as)', (iface, changes, [])))
        elif method == 'AddObject':
            target, iface, _ = args
            raw = params.get_child_value(2)
            props = {raw.get_child_value(i).get_child_value(0).get_string():
                     raw.get_child_value(i).get_child_value(1).get_variant()
                     for i in range(raw.n_children())}
            self.export(target, iface, props)
            conn.emit_signal(None, ROOT, OBJECT_MANAGER, 'InterfacesAdded',
                             GLib.Variant('(oa{sa{sv}})', (target, {iface: props, PROPERTIES: {}})))
        elif method == 'RemoveObject':
            target, = args
            iface, _ = self.objects.pop(target)
            conn.unregister_object(self.ids.pop(target))
            conn.emit_signal(None, ROOT, OBJECT_MANAGER, 'InterfacesRemoved',
                             GLib.Variant('(oas)', (target, [iface, PROPERTIES])))
        invocation.return_value(None)


def main():
    with open(sys.argv[1]) as f:
        model = json.load(f)
    loop = GLib.MainLoop()
    conn = Gio.bus_get_sync(Gio.BusType.SYSTEM, None)
    FakeModel(conn, model['objects'])   # the objects exist before the name
    reply = conn.call_sync('org.freedesktop.DBus', '/org/freedesktop/DBus', 'org.freedesktop.DBus',
                           'RequestName', GLib.Variant('(su)', (BUS_NAME, 4)), None,
                           Gio.DBusCallFlags.NONE, -1, None)
    if reply.unpack()[0] != 1:
        sys.exit('cannot own ' + BUS_NAME)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    loop.run()


if __name__ == '__main__':
    main()

# SPDX-License-Identifier: LGPL-2.1-or-later
'''A polkitd for vfiod's integration tests (python-dbusmock template).

    /usr/bin/python3 -m dbusmock --system --template tests/integration/polkitd_template.py

org.freedesktop.PolicyKit1.Authority.CheckAuthorization answers from a
per-action policy the test sets through the org.freedesktop.DBus.Mock
interface, and records every call so a test can check what the service
asked (subject, action, details, flags):

  SetAllowed(as)         these actions are authorized
  SetChallenge(as)       these actions need authentication: without the
                         AllowUserInteraction flag (1) the answer is
                         (is_authorized=False, is_challenge=True); with it,
                         authorized, as if an agent had authenticated
  SetError(as)           CheckAuthorization of these actions fails with a
                         D-Bus error (org.freedesktop.PolicyKit1.Error.Failed)
  SetDelay(d)            answer every check after this many seconds
  SimulateHang(b)        while true, checks get no answer at all ...
  ReleaseHangingCalls()  ... until this answers them (from the policy then)
  GetCalls() -> s        every call so far, as a JSON list of
                         {"subject_kind", "subject": {key: value},
                          "action", "details": {}, "flags", "cancellation_id"}
  GetCancelled() -> as   cancellation ids of CancelCheckAuthorization calls
  ClearCalls()

Any other action is refused (is_authorized=False, is_challenge=False).
'''

import json

import dbus
from gi.repository import GLib

from dbusmock import MOCK_IFACE

SYSTEM_BUS = True
BUS_NAME = 'org.freedesktop.PolicyKit1'
MAIN_OBJ = '/org/freedesktop/PolicyKit1/Authority'
MAIN_IFACE = 'org.freedesktop.PolicyKit1.Authority'

ALLOW_USER_INTERACTION = 0x1
ERROR_FAILED = 'org.freedesktop.PolicyKit1.Error.Failed'


def load(mock, parameters):
    mock.vfiod_allowed = set(parameters.get('allowed', []))
    mock.vfiod_challenge = set()
    mock.vfiod_error = set()
    mock.vfiod_delay = 0.0
    mock.vfiod_hang = False
    mock.vfiod_hanging = []
    mock.vfiod_calls = []
    mock.vfiod_cancelled = []
    mock.AddProperties(MAIN_IFACE, dbus.Dictionary({
        'BackendName': 'vfiod-test-polkitd',
        'BackendVersion': '0',
        'BackendFeatures': dbus.UInt32(1),  # temporary authorizations
    }, signature='sv'))


def _plain(value):
    '''dbus-python values as JSON-friendly Python ones.'''
    if isinstance(value, (dbus.Boolean, bool)):
        return bool(value)
    if isinstance(value, (int, dbus.Byte)):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, (str, dbus.ObjectPath, dbus.Signature)):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)


def _decide(mock, action, flags):
    '''(is_authorized, is_challenge, details) or raises the D-Bus error.'''
    if action in mock.vfiod_error:
        raise dbus.exceptions.DBusException('simulated polkit failure for %s' % action,
                                            name=ERROR_FAILED)
    if action in mock.vfiod_allowed:
        return (True, False, dbus.Dictionary({}, signature='ss'))
    if action in mock.vfiod_challenge:
        if flags & ALLOW_USER_INTERACTION:
            return (True, False, dbus.Dictionary({}, signature='ss'))
        return (False, True, dbus.Dictionary({}, signature='ss'))
    return (False, False, dbus.Dictionary({}, signature='ss'))


def _answer(mock, action, flags, ok, err):
    try:
        result = _decide(mock, action, flags)
    except dbus.exceptions.DBusException as e:
        err(e)
        return
    ok(dbus.Struct(result, signature='bba{ss}'))


@dbus.service.method(MAIN_IFACE, in_signature='(sa{sv})sa{ss}us', out_signature='(bba{ss})',
                     async_callbacks=('ok', 'err'))
def CheckAuthorization(self, subject, action_id, details, flags, cancellation_id, ok, err):
    kind, subject_details = subject
    self.vfiod_calls.append({
        'subject_kind': str(kind),
        'subject': _plain(subject_details),
        'action': str(action_id),
        'details': _plain(details),
        'flags': int(flags),
        'cancellation_id': str(cancellation_id),
    })
    action_id, flags = str(action_id), int(flags)
    if self.vfiod_hang:
        self.vfiod_hanging.append((action_id, flags, ok, err))
    elif self.vfiod_delay > 0:
        def later():
            _answer(self, action_id, flags, ok, err)
            return False
        GLib.timeout_add(int(self.vfiod_delay * 1000), later)
    else:
        _answer(self, action_id, flags, ok, err)


@dbus.service.method(MAIN_IFACE, in_signature='s', out_signature='')
def CancelCheckAuthorization(self, cancellation_id):
    self.vfiod_cancelled.append(str(cancellation_id))


@dbus.service.method(MOCK_IFACE, in_signature='as', out_signature='')
def SetAllowed(self, actions):
    self.vfiod_allowed = {str(a) for a in actions}


@dbus.service.method(MOCK_IFACE, in_signature='as', out_signature='')
def SetChallenge(self, actions):
    self.vfiod_challenge = {str(a) for a in actions}


@dbus.service.method(MOCK_IFACE, in_signature='as', out_signature='')
def SetError(self, actions):
    self.vfiod_error = {str(a) for a in actions}


@dbus.service.method(MOCK_IFACE, in_signature='d', out_signature='')
def SetDelay(self, seconds):
    self.vfiod_delay = float(seconds)


@dbus.service.method(MOCK_IFACE, in_signature='b', out_signature='')
def SimulateHang(self, hang):
    self.vfiod_hang = bool(hang)


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='u')
def ReleaseHangingCalls(self):
    hanging, self.vfiod_hanging = self.vfiod_hanging, []
    for action_id, flags, ok, err in hanging:
        _answer(self, action_id, flags, ok, err)
    return dbus.UInt32(len(hanging))


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='s')
def GetCalls(self):
    return json.dumps(self.vfiod_calls)


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='as')
def GetCancelled(self):
    return self.vfiod_cancelled


@dbus.service.method(MOCK_IFACE, in_signature='', out_signature='')
def ClearCalls(self):
    self.vfiod_calls = []

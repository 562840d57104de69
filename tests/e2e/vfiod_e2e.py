#!/usr/bin/python3
"""vfiod end to end (guest script): vfiod and vfioctl as installed, on a real kernel.

Runs inside the QEMU guest of run-e2e.py --systemd --install, as root in e2e.service, with the
real stack of a Debian system: the host's systemd as PID 1, the project installed by
`meson install` (prefix /usr), Debian's dbus.service as the system bus with the project's bus
policy, polkit.service with the project's actions (and test rules in /etc/polkit-1/rules.d),
vfiod started only by bus activation of the installed vfiod.service, under its own sandbox (a
method the unit takes something from fails here), /usr/bin/vfioctl. No mocks.

Every assertion compares what the service says or does with what the kernel itself shows:
the driver links in /sys/bus/pci/devices, /sys/kernel/iommu_groups, and VFIO_GROUP_GET_STATUS
on /dev/vfio/N. Writes $E2E_RESULTS/vfiod.json (summarised on the host).

Never detaches 00:10.0/00:11.0 (the 9p root and results share): they are only asked with
DRY_RUN, and a real call on an in-use group is made only once DRY_RUN refused it.
"""

import glob
import os
import re
import subprocess
import sys
import threading
import time

import e2elib as L
import vfiobus as V
from vfiobus import DRY_RUN, GROUP

C = L.Checks("vfiod")
TOPO = __import__("json").load(open(os.environ["E2E_TOPOLOGY"]))
T0 = time.monotonic()
E = "org.freedesktop.vfio1.Error."
REFUSED = ("org.freedesktop.DBus.Error.AccessDenied",
           "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired")
USER_UID = 1000
USER_GROUP = "vfio-e2e"


def section(title):
    print(f"\n== {title} (t={time.monotonic() - T0:.1f} s)", flush=True)


def state():
    """Every PCI device -> (driver, driver_override), straight from sysfs."""
    return {a: (L.driver(a), L.read_attr(a, "driver_override")) for a in L.pci_devices()}


def diff(before, after):
    return {a: (before.get(a), after.get(a)) for a in set(before) | set(after)
            if before.get(a) != after.get(a)}


def check_unchanged(what, before):
    d = diff(before, state())
    return C.check(f"{what}: nothing changed in sysfs", not d, d or None)


def show(r):
    if r is None:
        return "no reply"
    if r.ok:
        if isinstance(r.value, list) and r.value and isinstance(r.value[0], dict) \
                and "action" in r.value[0]:
            return f"plan in {r.seconds} s: " + "; ".join(plan_lines(r.value))
        return f"ok in {r.seconds} s"
    return f"{r.error}: {r.message} ({r.seconds} s)"


def plan_lines(plan):
    return [f"{s['address']} {s['action']} {s['from'] or '-'}->{s['to'] or '-'}"
            + (f" ({s['reason']})" if s["reason"] else "") for s in plan]


def expect_error(what, r, names, contains=()):
    names = (names,) if isinstance(names, str) else names
    ok = r is not None and not r.ok and r.error in names and \
        all(c in (r.message or "") for c in contains)
    return C.check(what, ok, show(r))


def same_outcome(what, dry, real):
    """DRY_RUN and the real call: the same error, or the same plan."""
    if dry.ok != real.ok:
        return C.check(what, False, f"dry run: {show(dry)} / real: {show(real)}")
    if not dry.ok:
        return C.check(what, dry.error == real.error, f"{dry.error} / {real.error}")
    return C.check(what, dry.value == real.value,
                   None if dry.value == real.value else
                   f"dry run: {plan_lines(dry.value)} / real: {plan_lines(real.value)}")


def moved(plan):
    return sorted(s["address"] for s in plan if s["action"] != "keep")


def viable(group):
    try:
        st = L.vfio_group_status(group)
        return st["viable"], st
    except OSError as e:
        return None, f"{type(e).__name__}: {e}"


def check_viable(what, group, want=True):
    v, st = viable(group)
    return C.check(f"{what}: kernel says group {group} is {'' if want else 'NOT '}viable "
                   "(VFIO_GROUP_GET_STATUS)", v is want, st)


def check_drivers(what, want):
    got = {a: L.driver(a) for a in want}
    return C.check(what, got == want, None if got == want else {"want": want, "got": got})


def members(g):
    return sorted(os.listdir(f"{L.GROUPS}/{g}/devices"))


if not (L.SYSTEMD and L.INSTALLED):
    C.check("booted with systemd as PID 1 and the project installed (run-e2e.py --systemd "
            "--install)", False, {"systemd": L.SYSTEMD, "installed": L.INSTALLED})
    sys.exit(C.write())

# ---------------------------------------------------------------------------------------------
section("vfiod.service loads vfio-pci itself (modprobe@vfio_pci.service), with no CAP_SYS_MODULE")
# Stage 2 loaded every other driver and not vfio-pci: the first activation of vfiod must bring
# it, through the unit's Wants=, since vfiod may load no module. Then vfiod stops again, and the
# harness's checks run on a machine with vfio-pci loaded, as before.
VFIO_PCI_DRIVER = "/sys/bus/pci/drivers/vfio-pci"
C.check("before vfiod ever ran, vfio-pci is not loaded", not os.path.exists(VFIO_PCI_DRIVER))
first = C.step("the first call to org.freedesktop.vfio1 starts vfiod.service", L.activate_vfiod,
               os.path.join(L.RESULTS, "vfiod-first.log"))
if first:
    C.check("vfio-pci is loaded now (modprobe@vfio_pci.service, pulled in by vfiod.service)",
            os.path.exists(VFIO_PCI_DRIVER),
            L.systemctl("status", "modprobe@vfio_pci.service", check=False).stdout)
    caps = L.process_capabilities(first.pid)
    C.check("vfiod has no CAP_SYS_MODULE in any set", not any(
        "CAP_SYS_MODULE" in v for v in caps.values()), caps)
    first.stop()
    C.check("vfiod.service stopped", not first.alive())

# ---------------------------------------------------------------------------------------------
section("the harness (smoke.py, in this boot: its own checks in smoke.json)")
# The checks that prove the machine and the stack are what the rest relies on ran as a boot of
# their own; one boot fewer, and nothing of theirs is lost.
smoke = subprocess.run([os.path.join(os.path.dirname(os.path.abspath(__file__)), "smoke.py")])
C.check("the harness's smoke checks passed (smoke.json)", smoke.returncode == 0,
        f"exit {smoke.returncode}")

# ---------------------------------------------------------------------------------------------
section("what the kernel made")

kgroups = L.iommu_groups()
names = L.lspci_names()
C.data["groups"] = {g: [dict(d, name=names.get(d["address"])) for d in devs]
                    for g, devs in kgroups.items()}
C.data["kernel"] = os.uname().release
print("IOMMU groups:")
for g, devs in kgroups.items():
    for d in devs:
        extra = f" [{','.join(d['ifaces'])}]" if d["ifaces"] else ""
        print(f"  group {g:2d}  {d['address']}  {str(d['driver']):12s} "
              f"{names.get(d['address'], '')}{extra}")

orig = state()
orig_ifaces = {a: L.net_ifaces(a) for a in L.pci_devices()}

pair = TOPO["pair"]["addrs"]
rp_ports = TOPO["rp_noacs"]["ports"]
rp_eps = [c for p in rp_ports for c in L.children(p)]
acs_ep = L.children(TOPO["rp_acs"]["ports"][0])[0]
br_port = TOPO["pcibridge"]["ports"][0]
bridge = L.children(br_port)[0]
br_nics = L.children(bridge)
chip = TOPO["chipset"]["addrs"]
ahci = "0000:00:1f.2"
up_nic = os.environ["E2E_UP_NIC"]
up_iface = os.environ["E2E_UP_IFACE"]
ninep = TOPO["ninep"]["addrs"]
disk_mount = os.environ["E2E_DISK_MOUNT"]
G = {"pair": L.group_of(pair[0]), "rp_noacs": L.group_of(rp_ports[0]),
     "rp_acs": L.group_of(acs_ep), "pcibridge": L.group_of(bridge),
     "chipset": L.group_of(ahci), "up_nic": L.group_of(up_nic)}
C.data["roles"] = {"pair": pair, "rp_noacs": rp_ports + rp_eps, "rp_acs": [acs_ep],
                   "pcibridge": [bridge] + br_nics, "group_of": G}
C.check("topology as README.md describes it (pair, 4-device root-port group, ACS endpoint, "
        "bridge + 2 NICs)",
        members(G["pair"]) == pair and len(members(G["rp_noacs"])) == 4 and
        members(G["rp_acs"]) == [acs_ep] and len(members(G["pcibridge"])) == 3,
        {k: members(g) for k, g in G.items()})

# ---------------------------------------------------------------------------------------------
section("the real stack")

# uid 1000 for the polkit checks: polkitd resolves the caller's name and groups (getpwuid,
# getgrouplist) for subject.isInGroup, so it needs passwd and group entries in the overlay.
import grp  # noqa: E402
import pwd  # noqa: E402
try:
    user = pwd.getpwuid(USER_UID).pw_name
except KeyError:
    user = "e2euser"
    with open("/etc/passwd", "a") as f:
        f.write(f"{user}:x:{USER_UID}:{USER_UID}::/nonexistent:/usr/sbin/nologin\n")
    with open("/etc/group", "a") as f:
        f.write(f"{user}:x:{USER_UID}:\n")
gid = max(g.gr_gid for g in grp.getgrall() if g.gr_gid < 60000) + 1
with open("/etc/group", "a") as f:
    f.write(f"{USER_GROUP}:x:{gid}:{user}\n")
C.check(f"uid {USER_UID} ({user}) is in group {USER_GROUP} (overlay /etc/group)",
        USER_GROUP in [g.gr_name for g in grp.getgrall() if user in g.gr_mem])

C.step("meson install put the bus policy, the polkit actions, vfiod.service and the bus's "
       "service file where Debian's bus, polkitd and systemd read them", L.install_project_files)
RULES = "/etc/polkit-1/rules.d/50-vfiod-e2e.rules"
if os.path.exists(RULES):
    os.unlink(RULES)
t = time.monotonic()
bus = C.step("Debian's dbus.service is the system bus", L.start_system_bus)
pk = C.step("Debian's polkit.service owns org.freedesktop.PolicyKit1 (no vfiod rules)",
            L.start_polkitd)
# udevd before vfiod: vfiod picks udev's netlink group when /run/udev/control exists at its
# start, so the live model below hears the kernel through udev's rules, as on a real host.
t_udev = time.monotonic()
udevd = C.step("Debian's systemd-udevd runs (/run/udev/control exists, udevadm settle returned)",
               L.start_udevd)
C.data["udevd_start_s"] = round(time.monotonic() - t_udev, 2)
unit_caps = L.unit_capabilities()
C.data["unit_capabilities"] = unit_caps
vf = C.step("vfiod.service, started by bus activation (the first call to "
            "org.freedesktop.vfio1), runs /usr/libexec/vfiod and owns the name", L.activate_vfiod)
C.data["stack_start_s"] = round(time.monotonic() - t, 2)
if vf:
    have = L.process_capabilities(vf.pid)
    C.check("vfiod.service's main process is /usr/libexec/vfiod",
            os.readlink(f"/proc/{vf.pid}/exe") == "/usr/libexec/vfiod",
            os.readlink(f"/proc/{vf.pid}/exe"))
    C.data["vfiod_capabilities"] = have
    C.check(f"vfiod runs with exactly the unit's capabilities ({' '.join(unit_caps)}): its "
            "effective, permitted and bounding sets, no inheritable or ambient ones",
            all(have.get(k) == sorted(unit_caps) for k in ("CapEff", "CapPrm", "CapBnd"))
            and not have.get("CapInh") and not have.get("CapAmb"), have)
    def vfiod_log():
        with open(vf.logpath, errors="replace") as f:
            return f.read()
    C.check("vfiod listens to udev's netlink group (its debug log says 'Listening to udev "
            "device events')",
            L.wait_until(lambda: "Listening to udev device events" in vfiod_log(), 10),
            [l for l in vfiod_log().splitlines() if "Listening" in l or "listen" in l] or None)
if not (bus and pk and vf):
    sys.exit(C.write())
root = V.Client()


def alive():
    return C.check("vfiod still running", vf.alive())


# ---------------------------------------------------------------------------------------------
section("GetGroup / ListDevices against sysfs")

r = root.list_devices()
C.check("ListDevices answers", r.ok, None if r.ok else show(r))
listed = {d["address"]: d for d in (r.value or [])}
C.check("ListDevices lists exactly /sys/bus/pci/devices, sorted",
        r.ok and [d["address"] for d in r.value] == L.pci_devices(),
        sorted(set(listed) ^ set(L.pci_devices())) or None)


def expected_dict(a):
    drv = L.driver(a) or ""
    # the contract's "bridge": host, PCI-to-PCI (incl. subtractive) or CardBus bridge class
    br = (int(L.read_attr(a, "class"), 16) >> 8) in (0x0600, 0x0604, 0x0607, 0x0609)
    st = "bridge" if br else "vfio" if drv == "vfio-pci" else "stub" if drv == "pci-stub" \
        else "host" if drv else "none"
    return {"address": a, "group": L.group_of(a), "driver": drv, "state": st, "bridge": br,
            "vendor_id": int(L.read_attr(a, "vendor"), 16),
            "device_id": int(L.read_attr(a, "device"), 16),
            "subsystem_vendor_id": int(L.read_attr(a, "subsystem_vendor"), 16),
            "subsystem_device_id": int(L.read_attr(a, "subsystem_device"), 16),
            "class": int(L.read_attr(a, "class"), 16),
            # the kernel's own list (6.1 has reset_method; absent: no method)
            "reset_methods": (L.read_attr(a, "reset_method") or "").split()
            if os.path.exists(f"/sys/bus/pci/devices/{a}/reset_method") else []}


def compare(d):
    want = expected_dict(d["address"])
    return {k: (v, d.get(k)) for k, v in want.items() if d.get(k) != v}


bad = {a: compare(d) for a, d in listed.items() if compare(d)}
C.check(f"ListDevices: group, driver, state, bridge, ids, class agree with sysfs for all "
        f"{len(listed)} devices", listed and not bad, bad or None)

bad, groups_seen = {}, {}
for a in L.pci_devices():
    r = root.get_group(a)
    if not r.ok:
        bad[a] = show(r)
        continue
    g, devs = r.value
    want = members(L.group_of(a))
    if g != L.group_of(a) or [d["address"] for d in devs] != want:
        bad[a] = {"group": g, "members": [d["address"] for d in devs], "kernel": want}
    elif any(compare(d) for d in devs) or any(d != listed.get(d["address"]) for d in devs):
        bad[a] = {d["address"]: compare(d) or "differs from ListDevices" for d in devs
                  if compare(d) or d != listed.get(d["address"])}
    groups_seen[g] = [d["address"] for d in devs]
C.check("GetGroup on every device: its group number and members are /sys/kernel/iommu_groups, "
        "each dict agrees with sysfs and ListDevices", not bad, bad or None)
C.check("GetGroup covered every kernel group", sorted(groups_seen) == sorted(kgroups),
        sorted(groups_seen))
r = root.get_group("05:00.7")
expect_error("GetGroup on an absent device -> NoSuchDevice", r, E + "NoSuchDevice")

# Why grouped: the rules vfiod copies from the kernel, on the kernel's own groups.
explained = {}
for g, devs in kgroups.items():
    r = root.call("ExplainGroup", devs[0]["address"])
    explained[g] = r.value if r.ok else show(r)
C.data["explained"] = explained
want_cause = {"pair": ("multifunction", [pair[0]]),
              "rp_noacs": ("bridge-without-acs", rp_ports),
              "pcibridge": ("pci-bridge", [bridge]),
              "rp_acs": ("isolated", [""])}
got_cause = {k: (explained[G[k]].get("cause"), explained[G[k]].get("cause_device"))
             if isinstance(explained.get(G[k]), dict) else explained.get(G[k]) for k in want_cause}
C.check("ExplainGroup: the multifunction pair, the root ports without ACS, the PCIe-to-PCI "
        "bridge and the endpoint below a root port with ACS have the causes the kernel's rules give",
        all(isinstance(got_cause[k], tuple) and got_cause[k][0] == c and got_cause[k][1] in who
            for k, (c, who) in want_cause.items()), got_cause)
unknown = {g: e for g, e in explained.items() if not isinstance(e, dict) or e["cause"] == "unknown"}
C.check(f"ExplainGroup: the rules reproduce every one of the kernel's {len(kgroups)} groups "
        "(no \"unknown\")", not unknown, unknown or None)
acs_place = [p for p in explained[G["rp_noacs"]].get("isolating_slots", [])
             if p.get("port") == TOPO["rp_acs"]["ports"][0]] \
    if isinstance(explained.get(G["rp_noacs"]), dict) else []
C.check("ExplainGroup's advice for the group behind the ports without ACS names the root port "
        "with ACS as a place that isolates, occupied by its endpoint",
        acs_place and acs_place[0].get("occupant") == [acs_ep], explained.get(G["rp_noacs"]))

# Config space under the unit's capabilities. The kernel gives an opener of
# /sys/bus/pci/devices/*/config without CAP_SYS_ADMIN only its first 64 bytes: no capability
# list, so no PCIe port type and no ACS (an extended capability, at 0x100 or above) on the root
# port, and the ACS endpoint could not come out "isolated". First the kernel's own answer to the
# unit's set (a reader under setpriv with that bounding set), then the daemon's (under the unit).
def config_bytes(addr, caps):
    keep = "".join(f",+{c.lower().removeprefix('cap_')}" for c in caps)
    r = subprocess.run(["setpriv", f"--bounding-set=-all{keep}", "--inh-caps=-all", "--",
                        "/usr/bin/python3", "-c",
                        f"print(len(open('/sys/bus/pci/devices/{addr}/config', 'rb').read()))"],
                       capture_output=True, text=True)
    return int(r.stdout) if r.returncode == 0 else r.stderr.strip()


acs_port = TOPO["rp_acs"]["ports"][0]
full = len(open(f"/sys/bus/pci/devices/{acs_port}/config", "rb").read())
sizes = {"root": full, "unit": config_bytes(acs_port, unit_caps),
         "unit without CAP_SYS_ADMIN": config_bytes(
             acs_port, [c for c in unit_caps if c != "CAP_SYS_ADMIN"])}
C.data["config_bytes"] = sizes
C.check(f"config space of the ACS root port {acs_port}: a reader with the unit's capabilities "
        f"gets all of it, as root does ({full} bytes)", full >= 4096 and sizes["unit"] == full,
        sizes)
ep = explained.get(G["rp_acs"])
C.check(f"vfiod reads full config space under the unit's capabilities: ExplainGroup of the ACS "
        f"endpoint {acs_ep} is \"isolated\" (the root port's ACS is read beyond the first 64 "
        "bytes) with the kernel's reset methods",
        isinstance(ep, dict) and ep.get("cause") == "isolated"
        and ep.get("reset_methods") == expected_dict(acs_ep)["reset_methods"]
        and bool(ep.get("reset_methods")), ep)

in_use = {a: d.get("in_use", "") for a, d in listed.items()}
C.data["in_use"] = {a: u for a, u in in_use.items() if u}
print("in_use as reported:", C.data["in_use"], flush=True)
C.check(f"in_use of AHCI names the mount ({disk_mount})", disk_mount in in_use.get(ahci, ""),
        in_use.get(ahci))
C.check(f"in_use of {up_nic} names the interface {up_iface} and 10.0.2.15",
        up_iface in in_use.get(up_nic, "") and "10.0.2.15" in in_use.get(up_nic, ""),
        in_use.get(up_nic))
ninep_mounts = {ninep[0]: ("/e2e/hostroot", "9p e2eroot"), ninep[1]: ("/e2e/results",
                                                                    "9p e2eresults")}
for a, (mp, tag) in ninep_mounts.items():
    C.check(f"in_use of {a} (virtio-9p) is 'mounted: {mp} ({tag})'",
            in_use.get(a, "") == f"mounted: {mp} ({tag})", in_use.get(a))
# --desktop: the USB controller (keyboard, mouse) and the display (framebuffer console)
desktop = "usb" in TOPO
usb_ctl, display, hda = ((TOPO["usb"]["addrs"][0], TOPO["display"]["addrs"][0],
                          TOPO["sound"]["addrs"][0]) if desktop else (None, None, None))
C.check("no other device reported in use",
        set(C.data["in_use"]) <= {ahci, up_nic} | set(ninep) |
        ({usb_ctl, display} if desktop else set()), C.data["in_use"])

# ---------------------------------------------------------------------------------------------
section("DRY_RUN survey of every group (no authorization, nothing written)")

before = state()
dry = {}
for g in sorted(kgroups):
    m = members(g)
    target = next((a for a in m if not listed.get(a, {}).get("bridge")), m[0])
    dry[g] = (target, root.detach(target, GROUP | DRY_RUN))
    print(f"  group {g}: detach --group --dry-run {target}: {show(dry[g][1])}", flush=True)
check_unchanged("DRY_RUN on every group", before)
C.data["dry_run_plans"] = {g: {"target": t, "ok": r.ok, "plan": r.value, "error": r.error,
                               "message": r.message} for g, (t, r) in dry.items()}
bridge_only = [g for g in kgroups if all(listed[a]["bridge"] for a in members(g))]
C.check("bridge-only groups (host bridge, ACS root ports) -> NotAssignable",
        bridge_only and all(dry[g][1].error == E + "NotAssignable" for g in bridge_only),
        {g: show(dry[g][1]) for g in bridge_only})
for g in bridge_only:
    target, d = dry[g]
    same_outcome(f"group {g} (bridges only): DRY_RUN matched the real call",
                 d, root.detach(target, GROUP))
check_unchanged("NotAssignable", before)
for a in ninep:
    r = dry[L.group_of(a)][1]
    expect_error(f"DRY_RUN detach of {a} (9p, the guest's own file systems) -> DeviceInUse "
                 "naming the 9p mount", r, E + "DeviceInUse", ("9p",))
C.check("9p devices untouched (never detached for real)",
        all(L.driver(a) == "virtio-pci" for a in ninep))
alive()

# ---------------------------------------------------------------------------------------------
section("in use: the AHCI group and the up NIC")

before = state()
for g, want in ((G["chipset"], (disk_mount,)), (G["up_nic"], (up_iface, "10.0.2.15"))):
    target, d = dry[g]
    if d.ok or d.error != E + "DeviceInUse":
        C.check(f"group {g}: DRY_RUN refused it (else the real call is not made)", False, show(d))
        continue
    r = root.detach(target, GROUP)
    expect_error(f"detach --group {target} -> DeviceInUse naming {' and '.join(want)}", r,
                 E + "DeviceInUse", want)
    same_outcome(f"group {g}: DRY_RUN matched the real call", d, r)
r = root.detach(ahci, 0)
expect_error(f"detach {ahci} alone -> refused (GroupNotViable or DeviceInUse)", r,
             (E + "GroupNotViable", E + "DeviceInUse"))
r = root.detach(up_nic, 0)
expect_error(f"detach {up_nic} (alone in its group) -> DeviceInUse naming {up_iface}", r,
             E + "DeviceInUse", (up_iface,))
check_unchanged("in-use refusals", before)
C.check(f"{disk_mount} still mounted and readable",
        open(os.path.join(disk_mount, "hello")).read().startswith("written"))
C.check(f"{up_iface} still has 10.0.2.15", "10.0.2.15" in subprocess.run(
    ["ip", "-o", "addr", "show", "dev", up_iface], capture_output=True, text=True).stdout)

# ---------------------------------------------------------------------------------------------
section("the desktop: keyboard and mouse, the framebuffer console, device nodes held open")


def hold_open(path):
    """A process (python3) holding @path open, once it has it."""
    proc = subprocess.Popen(["/usr/bin/python3", "-c",
                             "import os,sys,time; fd=os.open(sys.argv[1], os.O_RDWR|os.O_NONBLOCK);"
                             "print('open', flush=True); time.sleep(120)", path],
                            stdout=subprocess.PIPE, text=True)
    C.check(f"pid {proc.pid} holds {path} open", proc.stdout.readline() == "open\n")
    return proc


def group_in_use(addr):
    r = root.get_group(addr)
    return {d["address"]: d.get("in_use", "") for d in r.value[1]}.get(addr, "") if r.ok else None


if desktop:
    before = state()
    u = in_use.get(usb_ctl, "")
    C.check(f"{usb_ctl} (qemu-xhci) is in use: its keyboard and its mouse",
            "keyboard QEMU QEMU USB Keyboard (input event" in u and
            "mouse QEMU QEMU USB Mouse (input event" in u, u)
    expect_error(f"DRY_RUN detach --group {usb_ctl} -> DeviceInUse naming the keyboard",
                 dry[L.group_of(usb_ctl)][1], E + "DeviceInUse", ("keyboard QEMU QEMU USB Keyboard",))
    r = root.detach(usb_ctl, 0)
    expect_error(f"detach {usb_ctl} -> DeviceInUse naming the keyboard", r, E + "DeviceInUse",
                 ("keyboard",))
    C.check(f"{display} (bochs-display) is in use: the framebuffer console is on its fb0",
            "framebuffer console (fb0)" in in_use.get(display, ""), in_use.get(display))
    card = "/dev/dri/card0"
    holder = hold_open(card)
    want = f"display: python3 pid {holder.pid} (card0)"
    got = group_in_use(display)
    C.check(f"GetGroup {display} names the holder of {card}: {want!r}", want in (got or ""), got)
    holder.kill()
    holder.wait()

    pcms = sorted(glob.glob(f"/sys/bus/pci/devices/{hda}/sound/card*/pcmC*D*p"))
    C.check(f"{hda} (ich9-intel-hda) has a playback PCM", pcms, pcms)
    C.check(f"{hda} is not in use while nobody holds its nodes", group_in_use(hda) == "",
            group_in_use(hda))
    if pcms:
        pcm = os.path.basename(pcms[0])
        holder = hold_open(f"/dev/snd/{pcm}")
        want = f"sound: python3 pid {holder.pid} ({pcm})"
        got = group_in_use(hda)
        C.check(f"GetGroup {hda} names the holder of /dev/snd/{pcm}: {want!r}", got == want, got)
        r = root.detach(hda, GROUP | DRY_RUN)
        expect_error(f"DRY_RUN detach --group {hda} -> DeviceInUse naming pid {holder.pid}", r,
                     E + "DeviceInUse", (want,))
        holder.kill()
        holder.wait()
        r = root.detach(hda, GROUP | DRY_RUN)
        C.check(f"the holder gone, DRY_RUN detach --group {hda} has a plan", r.ok, show(r))

    disk_dev = os.environ["E2E_DISK_DEV"]
    holder = hold_open(disk_dev)
    want = f"open by python3 pid {holder.pid} ({os.path.basename(disk_dev)})"
    got = group_in_use(ahci)
    C.check(f"GetGroup {ahci} names the holder of {disk_dev}: {want!r}", want in (got or ""), got)
    r = root.detach(ahci, GROUP | DRY_RUN)
    expect_error(f"DRY_RUN detach --group {ahci} -> DeviceInUse naming pid {holder.pid}", r,
                 E + "DeviceInUse", (want,))
    holder.kill()
    holder.wait()
    # a link that carries a VLAN (which would have the address) and has none itself
    lower = (L.net_ifaces(pair[0]) or [None])[0]
    if C.check(f"{pair[0]} has a network interface", lower, L.net_ifaces(pair[0])):
        vlan = f"{lower}.100"[:15]
        was_up = open(f"/sys/class/net/{lower}/operstate").read().strip() != "down"
        made = subprocess.run(["ip", "link", "add", "link", lower, "name", vlan, "type", "vlan",
                               "id", "100"], capture_output=True, text=True)
        if C.check(f"ip link add {vlan} (a VLAN on {lower})", made.returncode == 0, made.stderr):
            subprocess.run(["ip", "link", "set", lower, "up"], check=True)
            subprocess.run(["ip", "link", "set", vlan, "up"], check=True)
            want = f"network interface {lower} is up and carries {vlan}"
            got = group_in_use(pair[0])
            C.check(f"GetGroup {pair[0]}: {want!r}", got == want, got)
            r = root.detach(pair[0], GROUP | DRY_RUN)
            expect_error(f"DRY_RUN detach --group {pair[0]} -> DeviceInUse naming {vlan}", r,
                         E + "DeviceInUse", (want,))
            subprocess.run(["ip", "link", "del", vlan], check=True)
            if not was_up:
                subprocess.run(["ip", "link", "set", lower, "down"], check=True)
            got = group_in_use(pair[0])
            C.check(f"{vlan} gone ({lower} as it was): {pair[0]} is not in use", got == "", got)
    check_unchanged("desktop refusals", before)
alive()

# ---------------------------------------------------------------------------------------------
section("the e1000 pair: one function alone is not viable; the group is")

g = G["pair"]
before = state()
r = root.detach(pair[0], 0)
expect_error(f"detach {pair[0]} without GROUP -> GroupNotViable naming {pair[1]}", r,
             E + "GroupNotViable", (pair[1],))
check_unchanged("GroupNotViable", before)
r = root.detach(pair[0], GROUP)
C.check(f"detach --group {pair[0]} succeeds, moving both", r.ok and moved(r.value) == pair,
        show(r))
same_outcome(f"group {g}: DRY_RUN plan == real plan", dry[g][1], r)
check_drivers("both functions on vfio-pci", {a: "vfio-pci" for a in pair})
check_viable("pair", g)
C.check(f"/dev/vfio/{g} exists", os.path.exists(f"/dev/vfio/{g}"))

# ---------------------------------------------------------------------------------------------
section("two root ports without ACS: endpoints move, root ports stay")

g = G["rp_noacs"]
before = state()
r = root.detach(rp_eps[0], 0)
expect_error(f"detach {rp_eps[0]} without GROUP -> GroupNotViable naming {rp_eps[1]}", r,
             E + "GroupNotViable", (rp_eps[1],))
check_unchanged("GroupNotViable", before)
r = root.detach(rp_eps[0], GROUP)
C.check(f"detach --group {rp_eps[0]} succeeds, moving only the endpoints",
        r.ok and moved(r.value) == sorted(rp_eps), show(r))
same_outcome(f"group {g}: DRY_RUN plan == real plan", dry[g][1], r)
check_drivers("endpoints on vfio-pci, root ports still on pcieport",
              {**{a: "vfio-pci" for a in rp_eps}, **{p: "pcieport" for p in rp_ports}})
check_viable("root-port group", g)

# ---------------------------------------------------------------------------------------------
section("PCIe-to-PCI bridge: both NICs move, the bridge stays; the daemon answers meanwhile")

g = G["pcibridge"]
before = state()
r = root.detach(bridge, GROUP)
expect_error(f"detach --group {bridge} (the bridge itself) -> NotAssignable", r,
             E + "NotAssignable")
check_unchanged("NotAssignable", before)

# The detach runs on vfiod's worker (unbinding takes a while under TCG); meanwhile another
# client's GetGroup calls must be answered by the main loop.
result, pings = {}, []


def detach_bridge_group():
    result["r"] = V.Client().detach(br_nics[0], GROUP)


th = threading.Thread(target=detach_bridge_group)
th.start()
while th.is_alive():
    p = root.get_group(acs_ep)
    pings.append((p.ok, p.seconds))
    time.sleep(0.02)
th.join()
r = result["r"]
C.data["pcibridge_detach_s"] = r.seconds
C.check(f"detach --group {br_nics[0]} succeeds, moving both NICs",
        r.ok and moved(r.value) == sorted(br_nics), show(r))
C.check("GetGroup kept answering during that detach",
        pings and all(ok for ok, _ in pings) and max(s for _, s in pings) < 1.0,
        f"{len(pings)} calls during {r.seconds} s, slowest {max((s for _, s in pings), default=None)} s")
same_outcome(f"group {g}: DRY_RUN plan == real plan", dry[g][1], r)
check_drivers("both NICs on vfio-pci, the bridge untouched (no driver), its root port on "
              "pcieport", {**{a: "vfio-pci" for a in br_nics}, bridge: orig[bridge][0],
                           br_port: "pcieport"})
check_viable("bridge group", g)
alive()

# ---------------------------------------------------------------------------------------------
section("GroupBusy: a process holds /dev/vfio/N")

g = G["pair"]
holder = subprocess.Popen(["/usr/bin/python3", "-c",
                           f"import os,time; fd=os.open('/dev/vfio/{g}', os.O_RDWR);"
                           "print('open', flush=True); time.sleep(120)"],
                          stdout=subprocess.PIPE, text=True)
C.check(f"holder pid {holder.pid} has /dev/vfio/{g} open", holder.stdout.readline() == "open\n")
before = state()
busy = {}
for flags, label in ((GROUP, "reattach --group"), (0, "reattach")):
    r = root.reattach(pair[0], flags)
    busy[label] = r.seconds
    expect_error(f"{label} {pair[0]} -> GroupBusy naming pid {holder.pid}", r, E + "GroupBusy",
                 (f"pid {holder.pid}",))
    C.check(f"{label}: GroupBusy came at once ({r.seconds} s < 1 s)", r.seconds < 1.0)
C.data["groupbusy_s"] = busy
r = root.get_group(pair[1])
C.check("GetGroup answers while the group is held, showing both on vfio",
        r.ok and [d["state"] for d in r.value[1]] == ["vfio", "vfio"], show(r))
r = root.list_devices()
C.check("ListDevices answers too", r.ok, show(r) if not r.ok else f"{r.seconds} s")
check_unchanged("GroupBusy", before)
holder.kill()
holder.wait()
alive()

# ---------------------------------------------------------------------------------------------
section("reattach: single, then GROUP; original drivers and interfaces come back")

g = G["pair"]
d = root.reattach(pair[0], DRY_RUN)
r = root.reattach(pair[0], 0)
C.check(f"reattach {pair[0]} (single) succeeds, moving only it",
        r.ok and moved(r.value) == [pair[0]], show(r))
same_outcome("single reattach: DRY_RUN plan == real plan", d, r)
check_drivers(f"{pair[0]} back on e1000, {pair[1]} still on vfio-pci",
              {pair[0]: "e1000", pair[1]: "vfio-pci"})
check_viable("pair with one function back on e1000", g, want=False)
for target, grp_name in ((pair[1], "pair"), (rp_eps[1], "rp_noacs"), (br_nics[1], "pcibridge")):
    g = G[grp_name]
    d = root.reattach(target, GROUP | DRY_RUN)
    r = root.reattach(target, GROUP)
    ms = sorted(a for a in members(g) if before[a][0] == "vfio-pci" and
                (grp_name != "pair" or a == pair[1]))
    C.check(f"reattach --group {target} succeeds, moving {ms}", r.ok and moved(r.value) == ms,
            show(r))
    same_outcome(f"group {g} reattach: DRY_RUN plan == real plan", d, r)
    C.check(f"plan names the original drivers ({grp_name})", r.ok and all(
        s["to"] == orig[s["address"]][0] for s in r.value if s["action"] == "reattach"),
        show(r))
    check_drivers(f"group {g} ({grp_name}): every device on its original driver",
                  {a: orig[a][0] for a in members(g)})
    C.check(f"group {g}: driver_override restored",
            all(L.read_attr(a, "driver_override") == orig[a][1] for a in members(g)),
            {a: L.read_attr(a, "driver_override") for a in members(g)})
    C.check(f"group {g}: /dev/vfio/{g} gone", not os.path.exists(f"/dev/vfio/{g}"))
time.sleep(0.3)
ifs = {a: L.net_ifaces(a) for a in pair + rp_eps + br_nics}
C.check("network interfaces reappeared on all six NICs (e1000 x3, e1000e, virtio-net, 8139cp)",
        all(len(ifs[a]) == len(orig_ifaces[a]) >= 1 for a in ifs),
        {a: (orig_ifaces[a], ifs[a]) for a in ifs})
r = root.reattach(pair[0], 0)
expect_error(f"reattach {pair[0]} again -> NotDetached", r, E + "NotDetached")
alive()

# ---------------------------------------------------------------------------------------------
section(f"real polkit, no rules: uid {USER_UID} is refused")

acs_g = G["rp_acs"]
setpriv = ["setpriv", f"--reuid={USER_UID}", f"--regid={USER_UID}", "--clear-groups"]
usr = C.step(f"a D-Bus caller runs as uid {USER_UID} (setpriv)", V.Remote, setpriv)
if usr:
    C.check(f"its uid is {USER_UID}", usr.uid == USER_UID, usr.uid)
    before = state()
    r = usr.call("GetGroup", acs_ep)
    C.check(f"uid {USER_UID}: GetGroup needs no authorization", r.ok, show(r))
    d_acs = usr.call("DetachDevice", acs_ep, DRY_RUN)
    C.check(f"uid {USER_UID}: DRY_RUN detach {acs_ep} needs no authorization, plans only it",
            d_acs.ok and moved(d_acs.value) == [acs_ep], show(d_acs))
    r = usr.call("DetachDevice", acs_ep, 0)
    expect_error(f"uid {USER_UID}: detach {acs_ep} -> refused (detach-device)", r, REFUSED,
                 ("detach-device",))
    r = usr.call("DetachDevice", acs_ep, 0, interactive=True)
    expect_error(f"uid {USER_UID}: detach {acs_ep} allowing interaction (no agent) -> refused",
                 r, REFUSED, ("detach-device",))
    r = usr.call("DetachDevice", pair[0], GROUP)
    expect_error(f"uid {USER_UID}: detach --group {pair[0]} -> refused (detach-group)", r,
                 REFUSED, ("detach-group",))
    p = L.vfioctl("--no-ask-password", "detach", acs_ep, uid=USER_UID)
    C.check(f"uid {USER_UID}: vfioctl --no-ask-password detach {acs_ep} -> exit 1 with the "
            "service's message", p.returncode == 1 and "vfioctl:" in p.stderr,
            f"rc={p.returncode} {p.stderr.strip()}")
    check_unchanged("refusals without rules", before)

# ---------------------------------------------------------------------------------------------
section(f"real polkit, a rule granting detach-device to group {USER_GROUP}")

# No logind in the guest, so no subject.local/active: the rule is on group membership alone.
os.makedirs(os.path.dirname(RULES), exist_ok=True)
with open(RULES, "w") as f:
    f.write('polkit.addRule(function(action, subject) {\n'
            '    if (action.id == "org.freedesktop.vfio1.detach-device" &&\n'
            f'        subject.isInGroup("{USER_GROUP}"))\n'
            '        return polkit.Result.YES;\n'
            '    return polkit.Result.NOT_HANDLED;\n'
            '});\n')
pk.stop()   # restart rather than rely on polkitd's asynchronous reload
pk = C.step("polkitd restarted with the rules file", L.start_polkitd)
if usr and pk:
    before = state()
    r = usr.call("DetachDevice", acs_ep, 0)
    C.check(f"uid {USER_UID}: detach {acs_ep} (alone in group {acs_g}) succeeds", r.ok and
            moved(r.value) == [acs_ep], show(r))
    same_outcome(f"group {acs_g}: DRY_RUN plan == real plan", d_acs, r)
    check_drivers(f"{acs_ep} on vfio-pci", {acs_ep: "vfio-pci"})
    check_viable("ACS endpoint", acs_g)
    before = state()
    r = usr.call("DetachDevice", pair[0], GROUP)
    expect_error(f"uid {USER_UID}: detach --group {pair[0]} (detach-group) still refused", r,
                 REFUSED, ("detach-group",))
    r = usr.call("ReattachDevice", acs_ep, 0)
    expect_error(f"uid {USER_UID}: reattach {acs_ep} (reattach-device, not granted) refused", r,
                 REFUSED, ("reattach-device",))
    check_unchanged("refusals with the rule", before)
    r = root.reattach(acs_ep, 0)
    C.check(f"root: reattach {acs_ep} -> e1000e", r.ok and L.driver(acs_ep) == "e1000e",
            show(r))

    # The grant is the group's: nobody (uid 65534, not in it) is still refused the same call.
    p = L.vfioctl("--no-ask-password", "detach", acs_ep, uid=65534)
    C.check(f"uid 65534 (not in {USER_GROUP}): vfioctl --no-ask-password detach {acs_ep} -> "
            "exit 1, unchanged", p.returncode == 1 and L.driver(acs_ep) == "e1000e",
            f"rc={p.returncode} {p.stderr.strip()}")

    before = state()
    p = L.vfioctl("--no-ask-password", "detach", acs_ep, uid=USER_UID)
    C.check(f"uid {USER_UID}: vfioctl --no-ask-password detach {acs_ep} -> exit 0, on vfio-pci",
            p.returncode == 0 and L.driver(acs_ep) == "vfio-pci",
            f"rc={p.returncode} {p.stderr.strip()}")
    mid = state()
    p = L.vfioctl("--no-ask-password", "detach", "--group", pair[0], uid=USER_UID)
    C.check(f"uid {USER_UID}: vfioctl --no-ask-password detach --group {pair[0]} -> exit 1",
            p.returncode == 1 and "vfioctl:" in p.stderr,
            f"rc={p.returncode} {p.stderr.strip()}")
    check_unchanged("vfioctl group refusal", mid)
    p = L.vfioctl("reattach", acs_ep)
    C.check(f"root: vfioctl reattach {acs_ep} -> exit 0, back on e1000e",
            p.returncode == 0 and L.driver(acs_ep) == "e1000e",
            f"rc={p.returncode} {p.stderr.strip()}")
    usr.close()

# ---------------------------------------------------------------------------------------------
section("the live model: what the kernel and other writers change, as a GLib client sees it")

# A Gio.DBusObjectManagerClient plus a raw PropertiesChanged subscription. Other programs
# write to the kernel (a root shell's unbind, umount/mount); vfiod hears it through udev's
# netlink group and /proc/self/mountinfo's POLLPRI and must say so: one signal per object per
# change, with the new values. Latencies are printed and kept in vfiod.json, never asserted.

SIGNAL_TIMEOUT = 20.0   # per awaited signal, after the writer finished (TCG is slow)
SETTLE = 3.0            # then listen this long for a duplicate or a stray signal


def short(path):
    return path[len(V.PATH) + 1:]


NEWS_RE = re.compile(r"DEBUG: (\d+):(\d+):([\d.]+): (uevent .*|Network links or addresses "
                     r"changed|/proc/\S+ changed)$")
CHANGE_RE = re.compile(r"DEBUG: (\d+):(\d+):([\d.]+): (/org/freedesktop/vfio1/\S+): (\S+) "
                       r"changed$")


def secs(m):
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3))


def news_before(log, path):
    """From vfiod's debug log: the news (a uevent, rtnetlink, a /proc table) after which it
    first said `path` changed, and how long after it. (None, None) if the log does not say."""
    news = None
    for line in log.splitlines():
        m = NEWS_RE.search(line)
        if m:
            news = m
            continue
        m = CHANGE_RE.search(line)
        if m and m.group(4) == path:
            return (news.group(4), round(secs(m) - secs(news), 3)) if news else (None, None)
    return None, None


def watch(what, writer, expect, exact=True, cause=None):
    """Start `writer` (argv of another process, or a callable run in a thread of this one),
    then wait for a PropertiesChanged on each object in `expect` ({path: {property: value}})
    carrying those values. Checks that each came, that the ObjectManagerClient's cached
    properties follow and, when `exact`, that each of those objects got exactly one signal and
    no other object got any (else that the last signal carries the final values). With `cause`,
    that vfiod's log shows the news starting with it came right before the first change."""
    mark = len(w.signals)
    log_at = os.path.getsize(vf.logpath)
    t0 = time.monotonic()
    if callable(writer):
        th = threading.Thread(target=writer)
        th.start()
        finished = lambda: not th.is_alive()
        proc = None
    else:
        proc = subprocess.Popen(writer, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True)
        finished = lambda: proc.poll() is not None

    def hit(path):
        return next((sig for sig in w.since(mark, path)
                     if all(k in sig["changed"] and sig["changed"][k] == v
                            for k, v in expect[path].items())), None)

    w.wait(finished, 120)
    t_written = time.monotonic()
    out = proc.communicate()[0].strip() if proc else ""
    if proc:
        C.check(f"{what}: `{' '.join(writer)}` exited 0", proc.returncode == 0,
                f"rc={proc.returncode} {out}" if proc.returncode else None)
    w.wait(lambda: all(hit(p) for p in expect), SIGNAL_TIMEOUT * len(expect))
    w.pump(SETTLE)
    with open(vf.logpath, errors="replace") as f:
        f.seek(log_at)
        log = f.read()
    lat = {}
    for path, props in expect.items():
        iface = V.DEVICE_IFACE if "/device/" in path else V.GROUP_IFACE
        sigs = w.since(mark, path)
        h = hit(path)
        if h:
            lat[short(path)] = {"from_start_s": round(h["t"] - t0, 3),
                                "writer_s": round(t_written - t0, 3)}
        C.check(f"{what}: PropertiesChanged on {short(path)} with {props}", h is not None,
                f"{lat[short(path)]['from_start_s']} s after the writer started (it took "
                f"{lat[short(path)]['writer_s']} s)" if h else
                f"within {SIGNAL_TIMEOUT * len(expect):.0f} s got only "
                f"{[sig['changed'] for sig in sigs]}")
        if exact:
            C.check(f"{what}: exactly one signal on {short(path)}",
                    len(sigs) == 1 and sigs[0]["iface"] == iface,
                    [(sig["iface"], sig["changed"]) for sig in sigs])
        else:
            last = sigs[-1]["changed"] if sigs else {}
            C.check(f"{what}: the last of the signals on {short(path)} carries the final values",
                    all(k in last and last[k] == v for k, v in props.items()),
                    [sig["changed"] for sig in sigs])
        news, after = news_before(log, path)
        if short(path) in lat:
            lat[short(path)].update(signals=len(sigs), news=news, vfiod_s=after)
        if cause:
            C.check(f"{what}: vfiod's log shows {short(path)} changed after {cause!r}",
                    news is not None and news.startswith(cause),
                    f"after {news!r}, {after} s later" if news else log[-2000:])
        cached = {k: w.prop(path, iface, k) for k in props}
        C.check(f"{what}: the ObjectManagerClient's cached {short(path)} follows",
                cached == props, None if cached == props else cached)
    if exact:
        others = sorted({short(sig["path"]) for sig in w.since(mark)} -
                        {short(p) for p in expect})
        C.check(f"{what}: no other object signalled", not others,
                {o: [sig["changed"] for sig in w.since(mark, f"{V.PATH}/{o}")]
                 for o in others} or None)
    C.data.setdefault("model_latency", {})[what] = lat
    print(f"  latency ({what}): " + ", ".join(
        f"{p} {v['from_start_s']} s (writer {v['writer_s']} s; {v['signals']} signal(s); "
        f"vfiod heard {v['news']!r} and changed it {v['vfiod_s']} s later)"
        for p, v in lat.items()), flush=True)
    return lat


w = C.step("a GLib client: Gio.DBusObjectManagerClient on /org/freedesktop/vfio1 and a raw "
           "PropertiesChanged subscription", V.ModelWatcher)
if w:
    want = sorted(V.device_path(a) for a in L.pci_devices())
    C.check("ObjectManager: one Device object per /sys/bus/pci/devices entry",
            w.paths("device") == want, sorted(set(w.paths("device")) ^ set(want)) or None)
    want = sorted(V.group_path(g) for g in L.iommu_groups())
    C.check("ObjectManager: one Group object per /sys/kernel/iommu_groups entry",
            w.paths("group") == want, sorted(set(w.paths("group")) ^ set(want)) or None)

    # 1. Another writer unbinds a NIC vfiod never touched in this section (its interface down).
    nic = pair[1]
    nic_p, nic_g = V.device_path(nic), V.group_path(G["pair"])
    props = {k: w.prop(nic_p, V.DEVICE_IFACE, k) for k in ("Driver", "State", "InUse", "Group")}
    if C.check(f"{nic}: the object says e1000, host, not in use, group {G['pair']}; so does "
               "the kernel", props == {"Driver": "e1000", "State": "host", "InUse": "",
                                       "Group": nic_g} and L.driver(nic) == "e1000", props):
        w.pump(1.0)   # nothing pending from earlier sections
        watch(f"root shell unbinds {nic} from e1000",
              ["sh", "-c", f"echo {nic} > /sys/bus/pci/drivers/e1000/unbind"],
              {nic_p: {"Driver": "", "State": "none"}})
        C.check(f"the kernel agrees: {nic} has no driver", L.driver(nic) is None, L.driver(nic))
        watch(f"root shell binds {nic} to e1000 again",
              ["sh", "-c", f"echo {nic} > /sys/bus/pci/drivers/e1000/bind"],
              {nic_p: {"Driver": "e1000", "State": "host"}})
        C.check(f"the kernel agrees: {nic} on e1000", L.driver(nic) == "e1000", L.driver(nic))

    # 1b. The e1000's interface going and coming reaches vfiod through rtnetlink first, which
    # may beat udev. The SMBus controller has no interface, block device or virtio child: only
    # the pci uevent, relayed by udevd on its netlink group, can tell vfiod of its unbind.
    smb = "0000:00:1f.3"
    smb_p = V.device_path(smb)
    smb_drv = L.driver(smb)
    props = {k: w.prop(smb_p, V.DEVICE_IFACE, k) for k in ("Driver", "State")}
    if C.check(f"{smb}: the object says {smb_drv}, host; so does the kernel",
               smb_drv and props == {"Driver": smb_drv, "State": "host"}, props):
        watch(f"root shell unbinds {smb} from {smb_drv}",
              ["sh", "-c", f"echo {smb} > /sys/bus/pci/drivers/{smb_drv}/unbind"],
              {smb_p: {"Driver": "", "State": "none"}}, cause=f"uevent unbind pci {smb}")
        watch(f"root shell binds {smb} to {smb_drv} again",
              ["sh", "-c", f"echo {smb} > /sys/bus/pci/drivers/{smb_drv}/bind"],
              {smb_p: {"Driver": smb_drv, "State": "host"}}, cause=f"uevent bind pci {smb}")
        C.check(f"the kernel agrees: {smb} on {smb_drv}", L.driver(smb) == smb_drv,
                L.driver(smb))

    # 2. umount and mount the AHCI disk: InUse of the device and of its group.
    disk_dev = os.environ["E2E_DISK_DEV"]
    mounted = f"mounted: {disk_mount} ({os.path.basename(disk_dev)})"
    ahci_p, chip_p = V.device_path(ahci), V.group_path(G["chipset"])
    props = (w.prop(ahci_p, V.DEVICE_IFACE, "InUse"), w.prop(chip_p, V.GROUP_IFACE, "InUse"))
    if C.check(f"{ahci} and its group say {mounted!r}", props == (mounted, mounted), props):
        w.pump(1.0)
        watch(f"umount {disk_mount}", ["umount", disk_mount],
              {ahci_p: {"InUse": ""}, chip_p: {"InUse": ""}},
              cause="/proc/self/mountinfo changed")
        watch(f"mount {disk_dev} {disk_mount}", ["mount", disk_dev, disk_mount],
              {ahci_p: {"InUse": mounted}, chip_p: {"InUse": mounted}},
              cause="/proc/self/mountinfo changed")
        C.check(f"{disk_mount} mounted and readable again",
                open(os.path.join(disk_mount, "hello")).read().startswith("written"))

    # 3. vfiod's own DetachDevice / ReattachDevice: the device's Driver and the group's Viable.
    # Intermediate values (unbound between the two drivers) may be signalled: not exact.
    acs_p, acs_gp = V.device_path(acs_ep), V.group_path(G["rp_acs"])
    props = (w.prop(acs_p, V.DEVICE_IFACE, "Driver"), w.prop(acs_gp, V.GROUP_IFACE, "Viable"))
    if C.check(f"{acs_ep} on e1000e, group {G['rp_acs']} not viable", props == ("e1000e", False),
               props):
        reply = {}
        watch(f"DetachDevice {acs_ep}",
              lambda: reply.update(r=V.Client().detach(acs_ep, 0)),
              {acs_p: {"Driver": "vfio-pci", "State": "vfio"}, acs_gp: {"Viable": True}},
              exact=False)
        C.check(f"DetachDevice {acs_ep} succeeded", reply["r"].ok, show(reply["r"]))
        watch(f"ReattachDevice {acs_ep}",
              lambda: reply.update(r=V.Client().reattach(acs_ep, 0)),
              {acs_p: {"Driver": "e1000e", "State": "host"}, acs_gp: {"Viable": False}},
              exact=False)
        C.check(f"ReattachDevice {acs_ep} succeeded", reply["r"].ok, show(reply["r"]))
    C.check("no Device or Group object appeared or went (nothing was hotplugged)",
            not w.added and not w.removed, {"added": w.added, "removed": w.removed})
    w.close()
alive()

# ---------------------------------------------------------------------------------------------
# uid 1000 uses the ACS endpoint (alone in its group) through vfioctl run / grant / revoke and
# vfio-dma; uid 1001 is refused. Restarts polkitd with the project's example rules.
import vfiod_use  # noqa: E402

if pk:
    pk = vfiod_use.run(C, root, pk, acs_ep, section)
alive()

# ---------------------------------------------------------------------------------------------
section("the end: everything as it was")

time.sleep(0.3)
d = diff(orig, state())
C.check("every device on its original driver and driver_override", not d, d or None)
ifs = {a: L.net_ifaces(a) for a in orig_ifaces if orig_ifaces[a]}
C.check("every network interface's device has its interfaces again",
        all(len(ifs[a]) == len(orig_ifaces[a]) for a in ifs),
        {a: (orig_ifaces[a], ifs[a]) for a in ifs if len(ifs[a]) != len(orig_ifaces[a])} or None)
C.check("/dev/vfio holds only the container node",
        sorted(os.listdir("/dev/vfio")) == ["vfio"], os.listdir("/dev/vfio"))
alive()
C.data["script_s"] = round(time.monotonic() - T0, 2)
for dmn in (vf, udevd, pk, bus):
    if dmn:
        dmn.stop()
sys.exit(C.write())

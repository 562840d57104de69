#!/usr/bin/python3
"""Guest script of e2e-persist (persist_e2e.py boots the machine four times; E2E_PHASE says
which boot this is). Everything runs as installed by `meson install` into the guest's root,
whose overlay upper layer is on a disk that persists across the boots: /usr/libexec/vfiod,
/usr/bin/vfioctl, the udev rule and /usr/libexec/vfiod-boot-bind, /etc/vfiod/persistent."""

import json
import os
import re
import subprocess

import e2elib as L

PHASE = int(os.environ["E2E_PHASE"])
INSTALL_BUILD = os.environ["E2E_INSTALL_BUILD"]
C = L.Checks(f"persist-{PHASE}")

VFIOD = "/usr/libexec/vfiod"
VFIOCTL = "/usr/bin/vfioctl"
HELPER = "/usr/libexec/vfiod-boot-bind"
RULE = "/usr/lib/udev/rules.d/40-vfiod-persistent.rules"
RECORDS = "/etc/vfiod/persistent"
UPPER = "/e2e/rw/upper"                          # the overlay's upper layer: the persistent disk
# The test's own notes, on the persistent disk like everything the guest writes: which boots
# ran, and every PCI device's driver after boot 1's coldplug (before any record existed).
NOTES = "/var/lib/vfiod-e2e"
BASELINE = os.path.join(NOTES, "baseline.json")
BOOTS = os.path.join(NOTES, "boots")

PAIR = ["0000:00:05.0", "0000:00:05.1"]          # multifunction e1000 pair: one group
ACS_PORT = "0000:00:03.0"                        # root port with ACS: its endpoint alone
NOACS_PORT = "0000:00:02.0"                      # another e1000e, never recorded
ENDPOINT = L.children(ACS_PORT)[0] if L.children(ACS_PORT) else None
OTHER_E1000E = L.children(NOACS_PORT)[0] if L.children(NOACS_PORT) else None
RECORDED = [ENDPOINT] + PAIR
BRIDGE_PORT = "0000:00:04.0"                     # root port -> PCIe-to-PCI bridge -> e1000 + rtl8139
BRIDGE = L.children(BRIDGE_PORT)[0] if L.children(BRIDGE_PORT) else None
BRIDGE_E1000 = next((a for a in (L.children(BRIDGE) if BRIDGE else [])
                     if L.read_attr(a, "device") == "0x100e"), None)


def dmesg():
    text = subprocess.run(["dmesg"], capture_output=True, text=True).stdout
    with open(os.path.join(L.RESULTS, "dmesg.txt"), "w") as f:
        f.write(text)
    return text


def probed_by(log, drv, addr):
    """Kernel log lines of driver @drv about device @addr (a probe prints them)."""
    return [line for line in log.splitlines() if re.search(rf"\b{re.escape(drv)} {re.escape(addr)}\b", line)]


def drivers_now():
    """Every PCI device's driver, from the kernel. 8139cp and 8139too both claim QEMU's rtl8139
    (revision 0x20): whichever module loads first binds, so they count as one."""
    out = {}
    for a in L.pci_devices():
        d = L.driver(a)
        out[a] = "8139cp" if d == "8139too" else d
    return out


def load_baseline():
    with open(BASELINE) as f:
        return json.load(f)


def check_disk():
    """The disk carries every earlier boot's writes: each boot appends its number to the notes;
    from boot 2 the installed files are the upper layer's (boot 1's meson install)."""
    try:
        with open(BOOTS) as f:
            seen = [int(x) for x in f.read().split()]
    except FileNotFoundError:
        seen = []
    C.check("the disk is fresh" if PHASE == 1 else f"the disk has the notes of boots 1..{PHASE - 1}",
            seen == list(range(1, PHASE)), seen)
    os.makedirs(NOTES, exist_ok=True)
    with open(BOOTS, "a") as f:
        f.write(f"{PHASE}\n")
    for path in (VFIOD, VFIOCTL, HELPER, RULE) if PHASE > 1 else ():
        C.check(f"{path} is on the disk (the overlay's upper layer) since boot 1",
                os.path.isfile(UPPER + path))


def check_others(base, moved, what):
    """Every device but @moved has the driver it had after boot 1's coldplug."""
    now = drivers_now()
    C.check("the same PCI devices as in boot 1", sorted(now) == sorted(base),
            sorted(set(now) ^ set(base)))
    diff = {a: (base.get(a), now.get(a)) for a in now if a not in moved and now[a] != base.get(a)}
    C.check(f"{what}: every other device has its boot-1 driver "
            f"({len([a for a in now if a not in moved])} devices)", not diff, diff)


def check_nothing_on_vfio():
    on = [a for a in L.pci_devices() if L.driver(a) == "vfio-pci"]
    C.check("no PCI device is on vfio-pci", on == [], on)
    ov = {a: L.read_attr(a, "driver_override") for a in L.pci_devices()
          if L.read_attr(a, "driver_override") != "(null)"}
    C.check("no PCI device has a driver_override", ov == {}, ov)
    nodes = sorted(os.listdir("/dev/vfio")) if os.path.isdir("/dev/vfio") else []
    C.check("no VFIO group node", [n for n in nodes if n != "vfio"] == [], nodes)


def vfioctl(*args):
    return subprocess.run([VFIOCTL, "--no-ask-password"] + list(args), capture_output=True,
                          text=True, timeout=120,
                          env=dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=L.SYSTEM_BUS_ADDRESS))


def vfioctl_json(*args):
    r = vfioctl("--json", *args)
    if r.returncode != 0:
        raise RuntimeError(f"vfioctl {' '.join(args)}: {r.stderr}")
    return json.loads(r.stdout)


def recorded():
    return sorted(n[:-5] for n in os.listdir(RECORDS) if n.endswith(".conf")) \
        if os.path.isdir(RECORDS) else []


def start_stack():
    """Debian's system bus and polkit.service, and vfiod started by bus activation of the
    installed vfiod.service (the unit meson installed in boot 1, on the persistent disk)."""
    bus = L.start_system_bus()
    pk = L.start_polkitd()
    vf = L.activate_vfiod()
    return [vf, pk, bus], vf.logpath


def stop_stack(daemons):
    for d in daemons:
        d.stop()


def persistent_keys(addr):
    return {d["address"]: d.get("persistent", "") for d in vfioctl_json("group", addr)["devices"]}


def check_topology():
    C.check("the ACS root port has its endpoint", ENDPOINT is not None, ACS_PORT)
    C.check("the other e1000e is there", OTHER_E1000E is not None, NOACS_PORT)


def detach_persistent():
    for target, members in ((ENDPOINT, [ENDPOINT]), (PAIR[0], PAIR)):
        r = vfioctl("detach", "--group", "--persistent", target)
        C.check(f"detach --group --persistent {target}", r.returncode == 0, r.stderr)
        for a in members:
            C.check(f"{a} on vfio-pci", L.driver(a) == "vfio-pci", L.driver(a))
    C.check("a record per detached device", recorded() == sorted(RECORDED), recorded())
    for a in RECORDED:
        st = os.stat(os.path.join(RECORDS, a + ".conf"))
        C.check(f"{a}'s record is root's, 0644", (st.st_uid, st.st_mode & 0o777) == (0, 0o644),
                oct(st.st_mode))
        with open(os.path.join(RECORDS, a + ".conf")) as f:
            kv = dict(line.split("=", 1) for line in f.read().splitlines()
                      if "=" in line and not line.startswith("#"))
        want = {"address": a, "vendor": L.read_attr(a, "vendor"),
                "device": L.read_attr(a, "device"), "class": L.read_attr(a, "class")}
        got = {k: kv.get(k) for k in want}
        C.check(f"{a}'s record names its address and the ids sysfs shows", got == want,
                {"record": got, "sysfs": want})
    listed = {a["address"]: a["persistent"] for a in vfioctl_json("persistent")["assignments"]}
    C.check("vfioctl persistent: all active", listed == {a: "active" for a in RECORDED}, listed)


def reattach_all():
    for target, members, drv in ((ENDPOINT, [ENDPOINT], "e1000e"), (PAIR[0], PAIR, "e1000")):
        r = vfioctl("reattach", "--group", target)
        C.check(f"reattach --group {target}", r.returncode == 0, r.stderr)
        for a in members:
            C.check(f"{a} back on {drv}", L.driver(a) == drv, L.driver(a))
    C.check("reattach removed every record", recorded() == [], recorded())
    r = vfioctl("persistent")
    C.check("vfioctl persistent: none", r.stdout == "No persistent assignments.\n", r.stdout)


def phase1():
    check_topology()
    check_disk()
    base = drivers_now()
    want = {ENDPOINT: "e1000e", OTHER_E1000E: "e1000e", PAIR[0]: "e1000", PAIR[1]: "e1000",
            BRIDGE_E1000: "e1000"}
    got = {a: base.get(a) for a in want}
    C.check("coldplug gave the NICs their host drivers", got == want, got)
    C.check("coldplug left nothing on vfio-pci", "vfio-pci" not in base.values(), base)
    with open(BASELINE, "w") as f:
        json.dump(base, f, indent=1)
    with open(os.path.join(L.RESULTS, "baseline.json"), "w") as f:
        json.dump(base, f, indent=1)
    r = subprocess.run(["meson", "install", "-C", INSTALL_BUILD, "--no-rebuild", "--quiet"],
                       capture_output=True, text=True)
    C.check("meson install into the guest's root", r.returncode == 0, r.stdout + r.stderr)
    for path in (VFIOD, VFIOCTL, HELPER, RULE, "/usr/share/dbus-1/system.d/org.freedesktop.vfio1.conf",
                 "/usr/share/polkit-1/actions/org.freedesktop.vfio1.policy"):
        C.check(f"installed: {path}", os.path.exists(path))
    with open(RULE) as f:
        rule = f.read()
    C.check("the rule runs the installed helper", f'RUN+="{HELPER} $kernel"' in rule, rule)
    daemons, _ = start_stack()
    detach_persistent()
    stop_stack(daemons)


def phase2():
    check_topology()
    check_disk()
    base = load_baseline()
    log = dmesg()
    check_others(base, RECORDED, "after coldplug with records")
    # right after coldplug, before anything of ours ran
    for a in RECORDED:
        C.check(f"{a} came up on vfio-pci", L.driver(a) == "vfio-pci", L.driver(a))
        C.check(f"{a}'s driver_override is vfio-pci", L.read_attr(a, "driver_override") == "vfio-pci",
                L.read_attr(a, "driver_override"))
        drv = "e1000e" if a == ENDPOINT else "e1000"
        C.check(f"{drv} never probed {a}", probed_by(log, drv, a) == [], probed_by(log, drv, a))
        C.check(f"the kernel log says the helper bound {a}",
                f"vfiod-boot-bind: {a}: bound to vfio-pci" in log)
    C.check("no recorded device was unbound from a host driver", "bound it first" not in log)
    C.check("the other e1000e has its host driver", L.driver(OTHER_E1000E) == "e1000e",
            L.driver(OTHER_E1000E))
    # the probe lines the checks above look for, where a probe did happen
    C.check("e1000e probed the other one", probed_by(log, "e1000e", OTHER_E1000E) != [])
    C.check(f"e1000 probed {BRIDGE_E1000}, behind the bridge",
            probed_by(log, "e1000", BRIDGE_E1000) != [])
    nodes = sorted(os.listdir("/dev/vfio"))
    want = sorted(["vfio"] + [str(L.group_of(a)) for a in (ENDPOINT, PAIR[0])])
    C.check("/dev/vfio: the recorded groups' nodes only", nodes == want, nodes)
    for target in (ENDPOINT, PAIR[0]):
        st = C.step(f"VFIO_GROUP_GET_STATUS of {target}'s group", L.vfio_group_status,
                    L.group_of(target))
        C.check(f"{target}'s group is viable", bool(st and st["viable"]), st)
    daemons, vlog = start_stack()
    keys = persistent_keys(ENDPOINT)
    C.check("the daemon: the endpoint's assignment is active", keys.get(ENDPOINT) == "active", keys)
    listed = {a["address"]: (a["persistent"], a["driver"])
              for a in vfioctl_json("persistent")["assignments"]}
    C.check("vfioctl persistent: active, on vfio-pci",
            listed == {a: ("active", "vfio-pci") for a in RECORDED}, listed)
    reattach_all()
    # for the next boots
    detach_persistent()
    stop_stack(daemons)
    with open(vlog) as f:
        text = f.read()
    C.check("no start-up warning about the records", "not carried out" not in text)


def phase3():
    check_topology()
    check_disk()
    base = load_baseline()
    log = dmesg()
    check_others(base, RECORDED, "with a replaced device")
    vendor = L.read_attr(ENDPOINT, "vendor")
    C.check("the recorded address now has another device (rtl8139)", vendor == "0x10ec", vendor)
    C.check("it has its host driver", L.driver(ENDPOINT) in ("8139cp", "8139too"), L.driver(ENDPOINT))
    C.check("its driver_override was not touched", L.read_attr(ENDPOINT, "driver_override") == "(null)",
            L.read_attr(ENDPOINT, "driver_override"))
    C.check("the kernel log says why", f"vfiod-boot-bind: {ENDPOINT}: not the device recorded" in log)
    for a in PAIR:
        C.check(f"{a} (still matching) came up on vfio-pci", L.driver(a) == "vfio-pci", L.driver(a))
        C.check(f"e1000 never probed {a}", probed_by(log, "e1000", a) == [], probed_by(log, "e1000", a))
    st = C.step("VFIO_GROUP_GET_STATUS of the pair's group", L.vfio_group_status, L.group_of(PAIR[0]))
    C.check("the pair's group is viable", bool(st and st["viable"]), st)
    C.check(f"vfio-pci has not got {ENDPOINT}: no group node for it",
            not os.path.exists(f"/dev/vfio/{L.group_of(ENDPOINT)}"))
    daemons, vlog = start_stack()
    keys = persistent_keys(ENDPOINT)
    C.check("the daemon reports the mismatch", keys.get(ENDPOINT, "").startswith("mismatch: "), keys)
    C.check("naming what differs", "10ec:8139" in keys.get(ENDPOINT, ""), keys)
    listed = {a["address"]: a["persistent"] for a in vfioctl_json("persistent")["assignments"]}
    C.check("vfioctl persistent: the mismatch and the active pair",
            listed.get(ENDPOINT, "").startswith("mismatch: ") and
            all(listed.get(a) == "active" for a in PAIR), listed)
    stop_stack(daemons)
    with open(vlog) as f:
        text = f.read()
    C.check("a start-up warning names it", f"Persistent assignment of {ENDPOINT} not carried out" in text)


def phase4():
    check_topology()
    check_disk()
    base = load_baseline()
    log = dmesg()
    check_others(base, [], "with vfiod.persistent=0")
    check_nothing_on_vfio()
    C.check("vfiod.persistent=0 is on the command line", "vfiod.persistent=0" in open("/proc/cmdline").read())
    for a, drv in ((ENDPOINT, "e1000e"), (PAIR[0], "e1000"), (PAIR[1], "e1000")):
        C.check(f"{a} stayed on {drv}", L.driver(a) == drv, L.driver(a))
        C.check(f"{a}'s driver_override untouched", L.read_attr(a, "driver_override") == "(null)",
                L.read_attr(a, "driver_override"))
    C.check("the kernel log says the assignments are off",
            "vfiod.persistent=0 turns persistent assignments off this boot" in log)
    C.check("the records are still there", recorded() == sorted(RECORDED), recorded())
    daemons, vlog = start_stack()
    keys = persistent_keys(ENDPOINT)
    C.check("the daemon: the assignment holds (same hardware)", keys.get(ENDPOINT) == "active", keys)
    reattach_all()
    stop_stack(daemons)
    with open(vlog) as f:
        text = f.read()
    C.check("a start-up message says it holds but is on e1000e",
            f"Persistent assignment of {ENDPOINT} holds, but the device is on e1000e" in text)


try:
    {1: phase1, 2: phase2, 3: phase3, 4: phase4}[PHASE]()
except Exception as e:  # noqa: BLE001 - reported as a failed check
    C.check(f"phase {PHASE} ran to its end", False, f"{type(e).__name__}: {e}")
subprocess.run(["sync"])
raise SystemExit(C.write())

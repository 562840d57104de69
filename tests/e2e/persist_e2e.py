#!/usr/bin/python3
"""e2e-persist: persistent assignments across reboots of a real kernel (see README.md).

    persist_e2e.py --build-dir BUILD [--timeout S]

Builds the project a second time with --prefix=/usr (BUILD/tests/e2e/install-build), makes a
fresh ext4 image for the guest's overlay upper layer (what the guest writes survives into the
next boot), then boots the same machine four times, each with systemd-udevd coldplug and the
guest script persist_guest.py in the phase the boot is for:

  1. `meson install` into the guest's root; detach two groups --persistent.
  2. the recorded devices came up on vfio-pci, never probed by their host drivers; reattach
     --group forgets the records; detach --persistent again.
  3. the device at one recorded address replaced by another model: left to its host driver,
     reported as a mismatch; the other group still bound.
  4. vfiod.persistent=0 on the kernel command line: nothing bound; then everything reattached.

Stops at the first boot that fails; its exit status is this program's. --timeout bounds the
whole run (the install build and every boot): each boot gets what is left of it.
"""

import argparse
import os
import subprocess
import sys
import time

from installbuild import install_build

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.path.dirname(os.path.dirname(HERE))

BOOTS = [
    # phase, extra run-e2e.py arguments
    (1, []),
    (2, []),
    (3, ["--variant", "replaced"]),
    (4, ["--cmdline", "vfiod.persistent=0"]),
]


def log(msg):
    print(f"e2e-persist: {msg}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", required=True)
    ap.add_argument("--timeout", type=float, default=600,
                    help="the whole run, install build and four boots, s (default 600)")
    args = ap.parse_args()
    build = os.path.realpath(args.build_dir)

    t0 = time.monotonic()
    deadline = t0 + args.timeout
    ib = install_build(build)
    log(f"install build ready in {time.monotonic() - t0:.1f} s: {ib}")

    work = os.path.join(build, "tests", "e2e", "work")
    os.makedirs(work, exist_ok=True)
    disk = os.path.join(work, "persist-root.img")
    if os.path.exists(disk):
        os.unlink(disk)
    with open(disk, "wb") as f:
        f.truncate(512 << 20)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "e2e-root", disk], check=True)

    script = os.path.join(HERE, "persist_guest.py")
    for phase, extra in BOOTS:
        t = time.monotonic()
        left = deadline - t
        if left < 60:
            log(f"FAILED: {left:.0f} s of the {args.timeout:.0f} s left for boot {phase}")
            return 1
        results = os.path.join(build, "tests", "e2e", "results", f"persist-{phase}")
        cmd = [sys.executable, os.path.join(HERE, "run-e2e.py"), "--build-dir", build,
               "--results", results, "--timeout", str(int(left)), "--persist-disk", disk,
               "--systemd", "--coldplug", "--env", f"E2E_PHASE={phase}", "--env", f"E2E_INSTALL_BUILD={ib}",
               ] + extra + [script]
        log(f"boot {phase}: {' '.join(extra) or 'the machine as recorded'}")
        rc = subprocess.run(cmd).returncode
        log(f"boot {phase}: exit {rc} in {time.monotonic() - t:.1f} s")
        if rc != 0:
            return rc
    log(f"all {len(BOOTS)} boots passed in {time.monotonic() - t0:.1f} s "
        f"(the limit: {args.timeout:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

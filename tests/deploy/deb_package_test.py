#!/usr/bin/env python3
"""The Debian package as a user installs it: `cpack -G DEB` from this build tree into a scratch
directory, then `dpkg-deb -I/-c` and `dpkg -x` into a scratch root (no root needed, nothing on
the machine changes). Checks that the package installs the binary, the systemd unit, the
sysusers and tmpfiles snippets and the default config as a conffile (upgrades keep local edits),
that its dependencies were computed from the binary, that the packaged binary runs `--version`
and `check` on the packaged config, and that `systemd-analyze verify` is clean for the unit as
installed. Starts no long-lived process."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.environ["OUTPOST_SOURCE_DIR"], "tests", "pylib"))
from outpost_testlib import check, finish  # noqa: E402

SRC = os.environ["OUTPOST_SOURCE_DIR"]
BUILD = os.environ["OUTPOST_BINARY_DIR"]
HOST_UNITS = "/lib/systemd/system"


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, timeout=kw.pop("timeout", 300), **kw)


def text(path):
    return open(path).read() if os.path.isfile(path) else ""


def main():
    for tool in ("cpack", "dpkg-deb", "dpkg"):
        if not shutil.which(tool):
            check(False, f"{tool} is installed")
            return finish()
    version = re.search(r"project\(outpost VERSION (\S+)", open(os.path.join(SRC, "CMakeLists.txt")).read()).group(1)
    arch = run(["dpkg", "--print-architecture"]).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="outpost-deb-") as tmp:
        out = os.path.join(tmp, "out")
        r = run(["cpack", "-G", "DEB", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-B", out], cwd=tmp)
        check(r.returncode == 0, "cpack -G DEB succeeds" + ("" if r.returncode == 0 else ": " + r.stdout + r.stderr))
        debs = [f for f in os.listdir(out) if f.endswith(".deb")] if os.path.isdir(out) else []
        check(debs == [f"outpost_{version}_{arch}.deb"], f"one package named outpost_{version}_{arch}.deb: {debs}")
        if not debs:
            return finish()
        deb = os.path.join(out, debs[0])
        print(f"package: {debs[0]}, {os.path.getsize(deb)} bytes")

        info = run(["dpkg-deb", "-I", deb]).stdout
        field = lambda k: (re.search(rf"^ {k}: (.*)$", info, re.M) or [None, ""])[1]  # noqa: E731
        check(field("Package") == "outpost" and field("Version") == version and field("Architecture") == arch,
              f"control: Package outpost, Version {version}, Architecture {arch}")
        depends = field("Depends")
        check(all(lib in depends for lib in ("libc6", "libzstd1", "librdkafka1", "libyaml-cpp0.7", "libsystemd0")),
              f"Depends computed from the binary's libraries (dpkg-shlibdeps): {depends}")
        conffiles = run(["dpkg-deb", "--info", deb, "conffiles"]).stdout.split()
        check(conffiles == ["/etc/outpost/outpost.yaml"], f"the default config is the one conffile: {conffiles}")
        for script in ("postinst", "prerm", "postrm"):
            check(script in info, f"maintainer script {script} is in the package")

        listing = run(["dpkg-deb", "-c", deb]).stdout
        modes = {line.split()[-1].lstrip("."): line.split()[0] for line in listing.splitlines() if line.strip()}

        root = os.path.join(tmp, "root")
        r = run(["dpkg", "-x", deb, root])
        check(r.returncode == 0, "dpkg -x unpacks the package into a scratch root")
        binary = os.path.join(root, "usr/bin/outpost")
        expected = {
            "usr/bin/outpost": "the binary",
            "usr/lib/systemd/system/outpost.service": "the systemd unit",
            "usr/lib/sysusers.d/outpost.conf": "the sysusers snippet (user outpost, group dialout)",
            "usr/lib/tmpfiles.d/outpost.conf": "the tmpfiles snippet (state and credentials dirs)",
            "etc/outpost/outpost.yaml": "the default config",
        }
        for path, what in expected.items():
            check(os.path.isfile(os.path.join(root, path)), f"{what}: /{path}")
        check(modes.get("/usr/bin/outpost", "").startswith("-rwxr-xr-x"), f"/usr/bin/outpost is 0755: {modes.get('/usr/bin/outpost')}")
        for path, src in (("usr/lib/systemd/system/outpost.service", "systemd/outpost.service"),
                          ("usr/lib/sysusers.d/outpost.conf", "systemd/outpost.sysusers"),
                          ("usr/lib/tmpfiles.d/outpost.conf", "systemd/outpost.tmpfiles"),
                          ("etc/outpost/outpost.yaml", "systemd/outpost.yaml")):
            p = os.path.join(root, path)
            check(text(p) == text(os.path.join(SRC, src)), f"/{path} is {src}")
        sysusers = text(os.path.join(root, "usr/lib/sysusers.d/outpost.conf"))
        check(bool(re.search(r"^u outpost ", sysusers, re.M) and re.search(r"^m outpost dialout", sysusers, re.M)),
              "sysusers creates user outpost and adds it to dialout")
        tmpfiles = text(os.path.join(root, "usr/lib/tmpfiles.d/outpost.conf"))
        check(bool(re.search(r"^d /var/lib/outpost 0750 outpost outpost", tmpfiles, re.M))
              and bool(re.search(r"^d /etc/outpost/credentials 0700 root root", tmpfiles, re.M)),
              "tmpfiles: /var/lib/outpost 0750 outpost, /etc/outpost/credentials 0700 root")
        # What postinst does on the board (systemd-sysusers, then systemd-tmpfiles --create), run
        # against the scratch root: the user exists, the state dir is the user's, and the
        # credential files the unit's LoadCredential= needs exist (a missing one fails the start).
        if shutil.which("systemd-sysusers") and shutil.which("systemd-tmpfiles"):
            for f in ("passwd", "group", "shadow", "gshadow"):
                open(os.path.join(root, "etc", f), "a").close()
            r1 = run(["systemd-sysusers", f"--root={root}", os.path.join(root, "usr/lib/sysusers.d/outpost.conf")])
            r2 = run(["systemd-tmpfiles", f"--root={root}", "--create", os.path.join(root, "usr/lib/tmpfiles.d/outpost.conf")])
            check(r1.returncode == 0 and r2.returncode == 0, f"sysusers and tmpfiles apply cleanly: {r1.stderr}{r2.stderr}")
            users = {line.split(":")[0]: line.split(":") for line in text(os.path.join(root, "etc/passwd")).splitlines()}
            groups = {line.split(":")[0]: line.split(":") for line in text(os.path.join(root, "etc/group")).splitlines()}
            check("outpost" in users and "outpost" in groups.get("dialout", ["", "", "", ""])[3].split(","),
                  "user outpost exists and is in group dialout (serial ports)")
            st = os.stat(os.path.join(root, "var/lib/outpost")) if os.path.isdir(os.path.join(root, "var/lib/outpost")) else None
            check(st is not None and "outpost" in users and st.st_uid == int(users["outpost"][2]) and (st.st_mode & 0o777) == 0o750,
                  "/var/lib/outpost is the outpost user's, mode 0750")
            for cred in ("mqtt-password", "kafka-password"):
                p = os.path.join(root, "etc/outpost/credentials", cred)
                check(os.path.isfile(p) and (os.stat(p).st_mode & 0o777) == 0o600 and os.stat(p).st_uid == 0,
                      f"/etc/outpost/credentials/{cred} exists, root-only (0600), for LoadCredential=")
        else:
            print("SKIP sysusers/tmpfiles: systemd-sysusers or systemd-tmpfiles is not installed")

        if not os.path.isfile(binary):
            return finish()
        # Stripped for the field (a Pi's SD card), unlike the build tree's RelWithDebInfo binary.
        sections = run(["readelf", "-SW", binary]).stdout
        check(".text" in sections and ".debug_info" not in sections and ".symtab" not in sections,
              "the packaged binary is stripped (no .debug_info, no .symtab)")

        r = run([binary, "--version"], timeout=30)
        check(r.returncode == 0 and r.stdout.strip() == f"outpost {version}", f"packaged binary: --version prints 'outpost {version}': {r.stdout!r}")
        cfg = os.path.join(root, "etc/outpost/outpost.yaml")
        r = run([binary, "check", "--config", cfg], timeout=30)
        check(r.returncode == 0 and ": ok:" in r.stdout, f"packaged binary accepts the packaged config: exit {r.returncode} {r.stdout!r} {r.stderr!r}")

        # The unit as installed: verify it against the package's own files.
        if not shutil.which("systemd-analyze") or not os.path.exists(os.path.join(HOST_UNITS, "sysinit.target")):
            print("SKIP verify: no systemd-analyze or no systemd unit tree on this machine to verify against")
        else:
            for name in os.listdir(HOST_UNITS):
                dst = os.path.join(root, "usr/lib/systemd/system", name)
                if not os.path.lexists(dst):
                    s = os.path.join(HOST_UNITS, name)
                    if os.path.islink(s):
                        os.symlink(os.readlink(s), dst)
                    elif os.path.isdir(s):
                        shutil.copytree(s, dst, symlinks=True)
                    else:
                        shutil.copy(s, dst)
            os.symlink("usr/bin", os.path.join(root, "bin"))
            shutil.copy(shutil.which("kill") or "/usr/bin/kill", os.path.join(root, "usr/bin/kill"))
            r = run(["systemd-analyze", "verify", f"--root={root}", "outpost.service"], timeout=60)
            msg = (r.stdout + r.stderr).strip()
            check(r.returncode == 0 and msg == "", f"systemd-analyze verify of the installed unit is clean: {msg!r}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())

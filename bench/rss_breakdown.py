#!/usr/bin/env python3
"""What a .NET process's RSS is made of: /proc/PID/smaps summed by kind of mapping (bench/memory.sh).

    python3 bench/rss_breakdown.py PID

File-backed mappings are grouped by what the file is (System.Private.CoreLib, the other framework assemblies, the
application's own assemblies and packages, the runtime's native libraries, OpenSSL, the C runtime); anonymous memory
(the GC heap, the runtime's data, thread stacks, malloc's arenas) and the runtime's executable memory (JIT-compiled
code, stubs; "memfd:doublemapper" while W^X is on) are their own lines.
"""
import re
import sys
from collections import Counter

# First match wins: the application directory is told from the shared framework by "/shared/" in the path.
FILE_KINDS = [
    ("System.Private.CoreLib", lambda p: p.endswith("/System.Private.CoreLib.dll")),
    ("OpenSSL and .NET's cryptography (libcrypto, libssl, System.Security.Cryptography, its native shim)",
     lambda p: any(k in p for k in ("libcrypto", "libssl", "Cryptography"))),
    ("the runtime's native code (libcoreclr, libclrjit, hostfxr, hostpolicy, System.Native, dotnet)",
     lambda p: any(k in p for k in ("libcoreclr", "libclrjit", "libhostfxr", "libhostpolicy", "libSystem.", "libclrgc"))
     or p.endswith("/dotnet")),
    ("the C and C++ runtime (libc, libstdc++, libm, ld.so, ...)",
     lambda p: any(k in p for k in ("/libc.so", "libstdc++", "/libm.so", "ld-linux", "libgcc_s", "libpthread", "libdl.so", "librt.so", "libz.so"))),
    ("the other framework assemblies (System.*, Microsoft.* of the shared framework)",
     lambda p: "/shared/" in p and p.endswith(".dll")),
    ("the application's assemblies and its packages", lambda p: p.endswith(".dll")),
]


def kind_of(name):
    if name == "":
        return "anonymous: the GC heap, the runtime's data, thread stacks, malloc's arenas"
    if name == "[heap]":
        return "malloc's main heap"
    if "doublemapper" in name:
        return "executable memory: JIT-compiled code, stubs (memfd:doublemapper)"
    if name.startswith("["):
        return "other (" + name + ")"
    for kind, matches in FILE_KINDS:
        if matches(name):
            return kind
    return "other files"


def main(pid):
    rss = Counter()
    kind = None
    with open(f"/proc/{pid}/smaps") as smaps:
        for line in smaps:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                fields = line.split(None, 5)
                kind = kind_of(fields[5].strip() if len(fields) > 5 else "")
            elif line.startswith("Rss:"):
                rss[kind] += int(line.split()[1])
    print("| what | MiB |\n|---|---:|")
    for kind, kib in sorted(rss.items(), key=lambda item: -item[1]):
        if kib >= 512:
            print(f"| {kind} | {kib / 1024:.1f} |")
    print(f"| total (VmRSS) | {sum(rss.values()) / 1024:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])

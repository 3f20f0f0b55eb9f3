#!/usr/bin/env python3
"""What a .NET process's RSS is made of: /proc/PID/smaps summed by kind of mapping (bench/memory.sh).

    python3 bench/rss_breakdown.py PID

File-backed mappings are grouped by what the file is (System.Private.CoreLib, the other framework assemblies, the
application's own assemblies and packages, the runtime's native libraries, OpenSSL, the C runtime); anonymous memory
(the GC heap, the runtime's data, thread stacks, malloc's arenas) and the runtime's executable memory (JIT-compiled
code, stubs; "memfd:doublemapper" while W^X is on) are their own lines.
"""
import json
import os
import re
import sys
from collections import Counter
from functools import lru_cache


@lru_cache(maxsize=None)
def runtime_pack_files(directory):
    """The file names a self-contained publish in DIRECTORY took from the .NET and ASP.NET Core runtime packs (its deps.json)."""
    names = set()
    for deps in (f for f in os.listdir(directory) if f.endswith(".deps.json")) if os.path.isdir(directory) else ():
        with open(os.path.join(directory, deps)) as file:
            for target in json.load(file).get("targets", {}).values():
                for library, assets in target.items():
                    if library.startswith("runtimepack."):
                        for kind in ("runtime", "native"):
                            names.update(os.path.basename(f) for f in assets.get(kind, {}))
    return frozenset(names)


def is_framework(path):
    """A file of the shared framework, or of the runtime packs a self-contained publish carries."""
    return "/shared/" in path or os.path.basename(path) in runtime_pack_files(os.path.dirname(path))


# First match wins: the application's own files are told from the framework's by is_framework.
FILE_KINDS = [
    ("System.Private.CoreLib", lambda p: p.endswith("/System.Private.CoreLib.dll")),
    ("OpenSSL and .NET's cryptography (libcrypto, libssl, System.Security.Cryptography, its native shim)",
     lambda p: any(k in p for k in ("libcrypto", "libssl", "Cryptography"))),
    # A Native AOT publish (MESHGATE_BUILD=aot) is its executable alone: the compiled code, the runtime and their data.
    ("the Native AOT executable (all code, the runtime, read-only data and metadata)",
     lambda p: p.endswith("/meshgate") and not os.path.exists(p + ".dll")),
    ("the runtime's native code (libcoreclr, libclrjit, hostfxr, hostpolicy, System.Native, dotnet or the apphost)",
     lambda p: any(k in p for k in ("libcoreclr", "libclrjit", "libhostfxr", "libhostpolicy", "libSystem.", "libclrgc"))
     or p.endswith("/dotnet") or p.endswith("/meshgate")),   # the muxer, or a self-contained publish's own executable
    ("the C and C++ runtime (libc, libstdc++, libm, ld.so, ...)",
     lambda p: any(k in p for k in ("/libc.so", "libstdc++", "/libm.so", "ld-linux", "libgcc_s", "libpthread", "libdl.so", "librt.so", "libz.so"))),
    ("the other framework assemblies (System.*, Microsoft.* of the shared framework or the runtime packs)",
     lambda p: is_framework(p) and p.endswith(".dll")),
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

#!/usr/bin/env python3
"""Reads `perf script` output (call stacks) of the gateway and prints where its CPU goes (bench/cpu.sh).

Three views of the same samples:
- by component: the innermost managed frame that is not the base library (System.Private.CoreLib) names the
  component whose work it was, so a Dictionary lookup called by YARP counts as YARP, and kernel time under a
  socket send counts as sockets. Samples with no managed frame at all are the runtime's own threads (GC, JIT,
  the thread pool's native side) and are told apart by their leaf.
- by thread: the thread's name (.NET TP Worker, .NET Sockets, .NET Server GC, ...).
- by leaf: the functions the CPU was in (self time).
- with --inclusive "A B ...": the share of samples with a frame whose text contains A (B, ...) anywhere on the stack
  (inclusive time of a method or type, e.g. DfaMatcher, or one step of ours).
"""
import argparse
import collections
import re
import sys

MANAGED = re.compile(r"\[([\w.]+)\] ([\w.`<>+|]+)(?:\[[\w.,\[\]]*\])?::")
# Precompiled (ReadyToRun) framework code is not in the perf map: perf names only its file.
PRECOMPILED = re.compile(r"\[unknown\] \(.*/([\w.]+)\.dll\)$")


def assembly_of(frame):
    """(assembly, namespace-qualified type or None) of a managed frame, else None."""
    match = MANAGED.search(frame)
    if match:
        return match.group(1), match.group(2)
    match = PRECOMPILED.search(frame)
    return (match.group(1), None) if match else None

# Assembly prefixes to component names, first match wins.
COMPONENTS = [
    ("Meshgate", "Meshgate (our middleware, policies, metrics)"),
    ("Yarp.ReverseProxy", "YARP (forwarder, transforms, load balancing)"),
    ("Microsoft.AspNetCore.Server.Kestrel", "Kestrel (HTTP/1.1 parsing, connections)"),
    ("Microsoft.AspNetCore.Routing", "ASP.NET Core routing"),
    ("Microsoft.AspNetCore", "ASP.NET Core hosting and middleware"),
    ("System.Net.Http", "HttpClient (SocketsHttpHandler)"),
    ("System.Net.Sockets", "sockets"),
    ("System.IO.Pipelines", "pipelines"),
    ("OpenTelemetry", "OpenTelemetry (metrics and trace export)"),
    ("System.Diagnostics.DiagnosticSource", "System.Diagnostics (Activity, Meter)"),
    ("Microsoft.Extensions.Logging", "logging"),
    ("Microsoft.Extensions", "Microsoft.Extensions (DI, options, primitives)"),
    ("System.Text.Json", "System.Text.Json"),
]


# Types of our own assembly that are the upstream side, told apart from the rest of Meshgate's middleware.
DIRECT_PATH = ("Meshgate.Proxy.Upstream.Http1", "Meshgate's direct HTTP/1.1 upstream path")


METHOD = re.compile(r"\] ([\w.`<>+|]+)(?:\[[\w.,\[\]]*\])?::([\w.`<>|]+)")


def method_of(frame):
    """Type::Method of a managed frame, namespaces dropped ("Http1Forwarder+<ForwardAsync>d__8::MoveNext"), or None."""
    match = METHOD.search(frame)
    return f"{match.group(1).split('.')[-1]}::{match.group(2)}" if match else None


def component_of(assembly, type_name=None):
    if type_name and type_name.startswith(DIRECT_PATH[0]):
        return DIRECT_PATH[1]
    for prefix, name in COMPONENTS:
        if assembly.lower().startswith(prefix.lower()):
            return name
    return assembly


# System calls whose caller perf cannot unwind (the user-space side stops in libc), by what they are for.
SYSCALL_KINDS = [
    (("__x64_sys_sendto", "__x64_sys_sendmsg", "__x64_sys_recvfrom", "__x64_sys_recvmsg"), "sockets: send/recv system calls (caller not unwound)"),
    (("__x64_sys_epoll_wait", "__x64_sys_epoll_pwait"), "sockets: epoll_wait (the socket-event thread)"),
    (("__x64_sys_pwrite64", "__x64_sys_write"), "file writes (pwrite/write)"),
    (("__x64_sys_futex",), "thread waits and wake-ups (futex)"),
    (("__x64_sys_sched_yield",), "thread-pool spinning (sched_yield)"),
]


def native_kind(frames):
    """What a sample with no managed frame was doing, from its frames' libraries and names."""
    text = " ".join(frames)
    for names, kind in SYSCALL_KINDS:
        if any(name in text for name in names):
            return kind
    if "libclrjit" in text:
        return "runtime: JIT compiler"
    if re.search(r"gc_heap|GCHeap|WKS::|SVR::|gc\.cpp", text):
        return "runtime: GC"
    if "libcoreclr" in text:
        return "runtime: other native (thread pool waits and spins, stubs)"
    if "kernel.kallsyms" in text:
        return "kernel only (scheduling, interrupts)"
    return "other native"


def samples(lines):
    """(thread name, frames innermost first) of each sample in `perf script` output."""
    thread, frames = None, []
    for line in lines:
        if not line.strip():
            if thread is not None and frames:
                yield thread, frames
            thread, frames = None, []
        elif line[0] in " \t":
            frames.append(line.strip())
        else:
            # "<comm> <pid>/<tid> <time>: <period> <event>:" — comm may contain spaces (".NET TP Worker").
            thread = re.split(r"\s+\d+(/\d+)?\s+\d+\.\d+:", line, maxsplit=1)[0].strip()
    if thread is not None and frames:
        yield thread, frames


def owner_of(frames):
    """The component a sample's CPU is charged to: the JIT, else the innermost assembly that is not CoreLib."""
    if any("libclrjit" in f for f in frames):
        return "runtime: JIT compiler"
    managed = [a for a in map(assembly_of, frames) if a]
    for assembly, type_name in managed:
        if assembly != "System.Private.CoreLib":
            return component_of(assembly, type_name)
    if managed:
        types = [t for _, t in managed if t]
        return "CoreLib only: " + (".".join(types[-1].split(".")[:2]) if types else "precompiled")
    return native_kind(frames)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--inclusive", default="", help="space-separated substrings of frames: inclusive share of each")
    parser.add_argument("--methods", default="", help="an assembly prefix (e.g. Meshgate): its methods' shares, as the innermost such frame and anywhere on the stack")
    args = parser.parse_args()
    methods_of = args.methods
    by_method = collections.Counter()
    by_method_inclusive = collections.Counter()
    inclusive_patterns = args.inclusive.split()
    inclusive = collections.Counter()

    by_component = collections.Counter()
    by_thread = collections.Counter()
    by_leaf = collections.Counter()
    in_kernel = 0
    total = 0

    def count(thread, frames):
        nonlocal total, in_kernel
        total += 1
        by_thread[thread] += 1
        leaf = frames[0]
        if "kernel.kallsyms" in leaf:
            in_kernel += 1
        for pattern in inclusive_patterns:
            if any(pattern in f for f in frames):
                inclusive[pattern] += 1
        if methods_of:
            names = [method_of(f) for f in frames if (assembly_of(f) or ("",))[0].lower().startswith(methods_of.lower())]
            names = [n for n in names if n]
            if names:
                by_method[names[0]] += 1
                for name in set(names):
                    by_method_inclusive[name] += 1
        symbol = re.sub(r"^\s*[0-9a-f]+ ", "", leaf)
        symbol = re.sub(r"\+0x[0-9a-f]+ ", " ", symbol)
        by_leaf[symbol[:150]] += 1
        by_component[owner_of(frames)] += 1

    for thread, frames in samples(sys.stdin):
        count(thread, frames)
    if total == 0:
        sys.exit("no samples: did perf record the gateway?")

    def table(title, counter, limit):
        print(f"\n| {title} | share of the gateway's CPU |\n|---|---:|")
        for name, count in counter.most_common(limit):
            print(f"| {name} | {100 * count / total:.1f}% |")

    print(f"{total} samples; {100 * in_kernel / total:.1f}% of them in the kernel")
    table("component (whose work)", by_component, 30)
    table("thread", by_thread, 12)
    table("function the CPU was in (self)", by_leaf, args.top)
    if methods_of:
        table(f"innermost {methods_of} method (with the base library and native code it calls)", by_method, args.top)
        table(f"{methods_of} method anywhere on the stack (inclusive)", by_method_inclusive, args.top)
    if inclusive_patterns:
        print("\n| frame (inclusive: anywhere on the stack) | share of the gateway's CPU |\n|---|---:|")
        for pattern in inclusive_patterns:
            print(f"| {pattern} | {100 * inclusive[pattern] / total:.1f}% |")


if __name__ == "__main__":
    main()

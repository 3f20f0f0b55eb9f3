# bench/meshgate-command.sh — how the bench starts a publish of Meshgate (sourced, not run: by bench/lib.sh,
# bench/run.sh and bench/mesh-up.sh).

# meshgate_command DIR: sets MESHGATE_CMD to the words that start the publish in DIR. A Native AOT publish
# (scripts/publish) is the executable alone, a self-contained JIT one (MESHGATE_BUILD=jit) runs as its own executable
# beside its DLL, an IL-only one (MESHGATE_BUILD=il) with dotnet.
meshgate_command() {
    if [[ ! -f $1/meshgate.dll ]] || grep -q '"includedFrameworks"' "$1/meshgate.runtimeconfig.json"; then
        MESHGATE_CMD=("$1/meshgate")
    else
        MESHGATE_CMD=(dotnet "$1/meshgate.dll")
    fi
}

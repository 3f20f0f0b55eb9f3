namespace Meshgate.Commands;

/// <summary>
/// Under Native AOT (the shipped build, scripts/publish), start-up leaves megabytes of garbage on the heap that no
/// collection returns while the process idles (the bench's gateway template: about 9 MiB, 7 MiB live of 18 MiB of
/// regions); one compacting collection once the host has started does. Under the JIT the same returns 0.3 MiB, not worth
/// a pause. Every long-running role (gateway, sidecar, control plane) calls it (docs/performance.md#memory).
/// </summary>
internal static class StartupGarbage
{
    public static void Collect()
    {
        if (!System.Runtime.CompilerServices.RuntimeFeature.IsDynamicCodeSupported)
        {
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        }
    }
}

using Microsoft.Extensions.Logging;

namespace Meshgate.Roles.Sidecar;

/// <summary>
/// The sidecar role runs with the thread pool's idle workers not spinning before they sleep: the runtime's own setting
/// <c>System.Threading.ThreadPool.UnfairSemaphoreSpinLimit</c> = 0, put into the AppContext before the thread pool
/// starts (the runtime reads it once, when it creates the pool's worker semaphore with the first work item).
/// A sidecar sits beside every app instance and mostly sees moderate rates, where a worker that spins after each
/// request burns more CPU than the request (docs/performance.md, "Sidecar hops at a moderate rate"); the gateway,
/// whose peak throughput is measured, keeps the runtime's default.
/// </summary>
internal static partial class ThreadPoolSpinning
{
    /// <summary>The runtimeconfig knob (AppContext data), the name the runtime reads.</summary>
    internal const string SpinLimitSetting = "System.Threading.ThreadPool.UnfairSemaphoreSpinLimit";

    /// <summary>The runtime's environment variable for the same knob (hexadecimal); it wins over the AppContext value.</summary>
    internal const string SpinLimitVariable = "DOTNET_ThreadPool_UnfairSemaphoreSpinLimit";

    /// <summary>What <see cref="TurnOff"/> found or did, for the sidecar's start-up log line; null before it ran.</summary>
    internal static string? Outcome { get; private set; }

    /// <summary>True when <see cref="TurnOff"/> set the spin limit to 0 before any thread-pool worker existed.</summary>
    internal static bool TurnedOff { get; private set; }

    /// <summary>
    /// Sets the spin limit to 0 unless the operator chose a value (the environment variable or the runtimeconfig knob),
    /// and only while no thread-pool worker has run yet: after that the runtime has read the value already.
    /// </summary>
    internal static void TurnOff()
    {
        if ((Environment.GetEnvironmentVariable(SpinLimitVariable) ?? Environment.GetEnvironmentVariable("COMPlus_ThreadPool_UnfairSemaphoreSpinLimit")) is { } variable)
        {
            Outcome = $"thread-pool spinning left as the environment sets it ({SpinLimitVariable}={variable})";
            return;
        }
        if (AppContext.GetData(SpinLimitSetting) is { } configured)
        {
            Outcome = $"thread-pool spinning left as the runtimeconfig sets it ({SpinLimitSetting}={configured})";
            return;
        }
        // No worker yet and no work item ever completed: the pool's semaphore, which takes the limit, is made with the
        // first worker. A process that already ran work (the in-process CLI tests) keeps what it has.
        if (ThreadPool.ThreadCount > 0 || ThreadPool.CompletedWorkItemCount > 0)
        {
            Outcome = "thread-pool spinning left on: the thread pool had started before the sidecar role could turn it off";
            return;
        }
        AppContext.SetData(SpinLimitSetting, "0");
        TurnedOff = true;
        Outcome = $"thread-pool workers do not spin before they sleep ({SpinLimitSetting}=0, set before the thread pool started; {SpinLimitVariable} overrides it)";
    }

    /// <summary>Said once at start, so an operator comparing a sidecar's CPU with the gateway's sees why they differ.</summary>
    internal static void LogOutcome(ILogger logger)
    {
        if (Outcome is { } outcome) LogThreadPoolSpinning(logger, outcome);
    }

    [LoggerMessage(EventId = Common.EventIds.SidecarLatency, Level = LogLevel.Information, Message = "Sidecar: {Outcome}")]
    private static partial void LogThreadPoolSpinning(ILogger logger, string outcome);
}

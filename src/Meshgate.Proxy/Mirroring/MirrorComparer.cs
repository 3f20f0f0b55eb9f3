using Meshgate.Configuration.Compilation;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Mirroring;

/// <summary>
/// Counts compared answers and logs a sample of the differences: at most one line a second for the whole process,
/// naming the route, request method and path (no query), statuses and the names of differing headers, never
/// header values or bodies, which may hold secrets.
/// </summary>
internal sealed partial class MirrorComparer(MirrorStatistics statistics, TimeProvider time, ILogger<MirrorComparer> logger)
{
    private long _lastLog = long.MinValue;

    public void Report(MirrorRouteCounts counts, MirrorPolicy policy, string method, string path, MirrorAnswer primary, MirrorAnswer shadow)
    {
        var difference = MirrorComparison.Differences(primary, shadow);
        statistics.Compared(counts, difference);
        if (difference == MirrorDifference.None || !logger.IsEnabled(LogLevel.Information)) return;

        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref _lastLog);
        if (last != long.MinValue && time.GetElapsedTime(last, now) < TimeSpan.FromSeconds(1)) return;
        if (Interlocked.CompareExchange(ref _lastLog, now, last) != last) return;

        var headers = Enumerable.Range(0, primary.Headers.Length)
            .Where(i => !string.Equals(primary.Headers[i], shadow.Headers[i], StringComparison.Ordinal))
            .Select(i => policy.CompareHeaders[i]);
        LogDifferent(logger, policy.RouteId, policy.ClusterId, method, path, difference.ToString().ToLowerInvariant(), primary.Status, shadow.Status, string.Join(", ", headers));
    }

    [LoggerMessage(EventId = Common.EventIds.Traffic + 21, Level = LogLevel.Information,
        Message = "Mirror of route {Route}: shadow cluster {Cluster} answered {Method} {Path} differently ({Fields}): status {PrimaryStatus} (primary) vs {ShadowStatus} (shadow); differing headers: [{Headers}]. Differences are counted in meshgate.mirror.differences; this line is logged at most once a second.")]
    private static partial void LogDifferent(ILogger logger, string route, string cluster, string method, string path, string fields, int primaryStatus, int shadowStatus, string headers);
}

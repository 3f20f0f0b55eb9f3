using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Caching.Stores.Redis;

/// <summary>
/// Whether the cache's Redis answers, shared by every policy with store: redis. An outage is logged once when it
/// starts and once when Redis answers again, however many requests fail in between; each failure is counted.
/// </summary>
internal sealed partial class RedisCacheHealth(ILogger<RedisCacheHealth> logger, CachingMetrics metrics, TimeProvider time)
{
    private int _failing;
    private long _errors;

    public bool Failing => Volatile.Read(ref _failing) == 1;

    /// <summary>Store operations that failed or timed out since the process started.</summary>
    public long Errors => Interlocked.Read(ref _errors);

    /// <summary>When the current outage started; null while Redis answers.</summary>
    public DateTimeOffset? FailingSince { get; private set; }

    public string? LastError { get; private set; }

    public void Succeeded(string connection)
    {
        if (Volatile.Read(ref _failing) == 0 || Interlocked.Exchange(ref _failing, 0) == 0) return;
        var since = FailingSince;
        FailingSince = null;
        LogRecovered(connection, since is { } start ? time.GetUtcNow() - start : TimeSpan.Zero);
    }

    public void Failed(string connection, string policy, string operation, string error)
    {
        Interlocked.Increment(ref _errors);
        metrics.StoreError(policy, operation);
        LastError = error;
        if (Interlocked.Exchange(ref _failing, 1) == 1) return;
        FailingSince = time.GetUtcNow();
        LogFailing(connection, operation, error);
    }

    [LoggerMessage(EventId = Common.EventIds.Caching + 1, Level = LogLevel.Warning, Message = "Cache store Redis {Connection} is failing ({Operation}: {Error}); cached routes forward every request without storing until it answers again")]
    private partial void LogFailing(string connection, string operation, string error);

    [LoggerMessage(EventId = Common.EventIds.Caching + 2, Level = LogLevel.Information, Message = "Cache store Redis {Connection} answers again after {Outage}; caching resumes")]
    private partial void LogRecovered(string connection, TimeSpan outage);
}

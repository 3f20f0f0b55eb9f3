using System.Security.Cryptography;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Mirroring;

/// <summary>
/// Sends mirror copies in the background, so a slow or dead shadow never holds up a primary request. Each route
/// may have at most mirror.queue copies waiting or in flight; beyond that a copy is dropped and counted (the
/// per-route bound is the DropWrite of a bounded channel, kept per route so one slow shadow cannot starve
/// another route's copies). At most <see cref="MaxConcurrentSends"/> copies are in flight in all.
/// </summary>
internal sealed partial class MirrorQueue(MirrorStatistics statistics, TimeProvider time, ILogger<MirrorQueue> logger) : BackgroundService
{
    public const int MaxConcurrentSends = 256;

    private readonly Channel<MirrorCopy> _channel = Channel.CreateUnbounded<MirrorCopy>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SemaphoreSlim _senders = new(MaxConcurrentSends);

    /// <summary>Queues the copy, or drops it (counted) when its route's queue is full. Never blocks.</summary>
    public bool TryEnqueue(MirrorCopy copy)
    {
        if (Interlocked.Increment(ref copy.Counts.PendingCount) <= copy.Policy.Queue && _channel.Writer.TryWrite(copy)) return true;
        Interlocked.Decrement(ref copy.Counts.PendingCount);
        statistics.Count(copy.Counts, copy.Policy.ClusterId, MirrorOutcome.Dropped);
        copy.Comparison?.SetShadow(null);
        copy.Message.Dispose();
        return false;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (var copy in _channel.Reader.ReadAllAsync(stoppingToken))
            {
                await _senders.WaitAsync(stoppingToken);
                _ = SendAsync(copy);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutdown: copies still queued are abandoned; they were never promised.
        }
    }

    private async Task SendAsync(MirrorCopy copy)
    {
        var policy = copy.Policy;
        try
        {
            using var timeout = new CancellationTokenSource(policy.Timeout, time);
            using var response = await copy.Invoker.SendAsync(copy.Message, timeout.Token);
            MirrorAnswer? answer = null;
            if (copy.Comparison is not null) answer = await ReadAnswerAsync(response, policy.CompareHeaders, timeout.Token);
            statistics.Count(copy.Counts, policy.ClusterId, MirrorOutcome.Sent);
            copy.Comparison?.SetShadow(answer);
        }
        catch (Exception e)
        {
            // Whatever went wrong with a copy stays with the copy: counted, logged at debug, never thrown.
            statistics.Count(copy.Counts, policy.ClusterId, MirrorOutcome.Failed);
            copy.Comparison?.SetShadow(null);
            LogCopyFailed(logger, policy.RouteId, policy.ClusterId, e.GetType().Name, e.Message);
        }
        finally
        {
            copy.Message.Dispose();
            Interlocked.Decrement(ref copy.Counts.PendingCount);
            _senders.Release();
        }
    }

    private static async Task<MirrorAnswer> ReadAnswerAsync(HttpResponseMessage response, IReadOnlyList<string> compareHeaders, CancellationToken cancellationToken)
    {
        var headers = new string?[compareHeaders.Count];
        for (var i = 0; i < headers.Length; i++)
        {
            if (response.Headers.TryGetValues(compareHeaders[i], out var values) || response.Content.Headers.TryGetValues(compareHeaders[i], out values))
            {
                headers[i] = string.Join(", ", values);
            }
        }
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        await using var body = await response.Content.ReadAsStreamAsync(cancellationToken);
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int read;
            while ((read = await body.ReadAsync(buffer, cancellationToken)) > 0) hash.AppendData(buffer, 0, read);
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
        return new MirrorAnswer((int)response.StatusCode, headers, hash.GetHashAndReset());
    }

    [LoggerMessage(EventId = Common.EventIds.Traffic + 20, Level = LogLevel.Debug, Message = "Mirror copy of route {Route} to cluster {Cluster} failed: {Error}: {Detail}")]
    private static partial void LogCopyFailed(ILogger logger, string route, string cluster, string error, string detail);
}

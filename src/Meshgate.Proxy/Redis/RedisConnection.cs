using StackExchange.Redis;

namespace Meshgate.Proxy.Redis;

/// <summary>
/// The node's one multiplexed connection to <c>stores.redis</c>, shared by every concern that keeps state there
/// (shared rate limits, the response cache). It starts without Redis and reconnects by itself, so callers see a
/// failed or disconnected multiplexer while Redis is away and a working one as soon as it is back.
/// </summary>
public sealed class RedisConnection : IAsyncDisposable
{
    private readonly Lock _lock = new();
    private string? _connection;
    private Task<ConnectionMultiplexer>? _multiplexer;

    /// <summary>The multiplexer for <paramref name="connection"/> (host:port); a changed connection replaces the old one.</summary>
    public Task<ConnectionMultiplexer> For(string connection)
    {
        lock (_lock)
        {
            // A connect that failed outright (not merely "not yet connected") is tried again on the next call.
            if (_multiplexer is { IsFaulted: false, IsCanceled: false } && _connection == connection) return _multiplexer;
            var old = _multiplexer;
            _connection = connection;
            var options = ConfigurationOptions.Parse(connection);
            // Start without Redis and keep reconnecting in the background: callers fall back meanwhile.
            options.AbortOnConnectFail = false;
            options.ConnectTimeout = 1000;
            options.ConnectRetry = 1;
            options.ReconnectRetryPolicy = new LinearRetry(500);
            // Fail at once while disconnected instead of queueing: callers fall back without waiting.
            options.BacklogPolicy = BacklogPolicy.FailFast;
            _multiplexer = ConnectionMultiplexer.ConnectAsync(options);
            if (old is not null) _ = old.ContinueWith(t => t.Result.DisposeAsync(), TaskContinuationOptions.OnlyOnRanToCompletion);
            return _multiplexer;
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_multiplexer is { IsCompletedSuccessfully: true } multiplexer) await multiplexer.Result.DisposeAsync();
    }
}

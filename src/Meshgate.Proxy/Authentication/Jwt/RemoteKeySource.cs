using Microsoft.IdentityModel.Tokens;

namespace Meshgate.Proxy.Authentication.Jwt;

/// <summary>
/// Signing keys fetched from a JWKS (directly or through OIDC discovery). Keys already fetched stay in
/// use when a refresh fails; a token with an unknown kid causes a refetch, at most once per minimum interval.
/// </summary>
internal sealed class RemoteKeySource(Func<CancellationToken, Task<IReadOnlyList<SecurityKey>>> fetch, TimeSpan refreshInterval, TimeSpan minInterval,
    TimeProvider time, Action<int> fetched, Action<Exception, int> failed)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private volatile IReadOnlyList<SecurityKey>? _keys;
    private long _fetchedAt;
    private long _lastAttempt = long.MinValue;
    private int _backgroundRefresh;

    public async ValueTask<IReadOnlyList<SecurityKey>> GetAsync(string? kid)
    {
        var keys = _keys;
        if (keys is null)
        {
            await RefreshAsync();
            return _keys ?? [];
        }
        if (time.GetElapsedTime(Interlocked.Read(ref _fetchedAt)) > refreshInterval && Interlocked.Exchange(ref _backgroundRefresh, 1) == 0)
        {
            // Requests keep using the current keys while the refresh runs.
            _ = Task.Run(async () =>
            {
                try { await RefreshAsync(); }
                finally { Volatile.Write(ref _backgroundRefresh, 0); }
            });
        }
        if (kid is not null && !Contains(keys, kid))
        {
            await RefreshAsync();
            return _keys ?? keys;
        }
        return keys;
    }

    private static bool Contains(IReadOnlyList<SecurityKey> keys, string kid)
    {
        foreach (var key in keys)
        {
            if (string.Equals(key.KeyId, kid, StringComparison.Ordinal)) return true;
        }
        return false;
    }

    private async Task RefreshAsync()
    {
        await _gate.WaitAsync();
        try
        {
            var last = Interlocked.Read(ref _lastAttempt);
            if (last != long.MinValue && time.GetElapsedTime(last) < minInterval) return;
            Interlocked.Exchange(ref _lastAttempt, time.GetTimestamp());
            try
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                var keys = await fetch(timeout.Token);
                if (keys.Count == 0) throw new InvalidOperationException("the key set holds no usable RSA or EC signing keys");
                _keys = keys;
                Interlocked.Exchange(ref _fetchedAt, time.GetTimestamp());
                fetched(keys.Count);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                failed(e, _keys?.Count ?? 0);
            }
        }
        finally
        {
            _gate.Release();
        }
    }
}

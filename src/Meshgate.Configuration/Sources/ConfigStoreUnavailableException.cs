namespace Meshgate.Configuration.Sources;

/// <summary>
/// A config store that cannot be reached right now (etcd down or partitioned): a passing condition, which the admin
/// API answers with 503 and Retry-After, unlike a store that refused the write (a file it may not write: 500). An
/// <see cref="IOException"/>, so code that reports any store failure the same way needs no change.
/// </summary>
public sealed class ConfigStoreUnavailableException(string store, string reason, Exception? inner = null)
    : IOException($"{store} is unavailable: {reason}", inner)
{
    /// <summary>Which store, for people: "etcd at etcd://127.0.0.1:2379".</summary>
    public string Store { get; } = store;

    /// <summary>Why, as the store's client said it: "Unavailable: Error connecting to subchannel.".</summary>
    public string Reason { get; } = reason;
}

using Meshgate.Configuration;

namespace Meshgate.Proxy.Pipeline;

/// <summary>
/// Something a step needs to know about the whole running config, such as "does any cluster set this limit", computed
/// once per config snapshot on its first request. A step that is configured nowhere then skips its per-request
/// dictionary lookup (a string hash of the route or cluster id) with one reference comparison, while it still reads
/// the current snapshot, so a reload that configures it applies to the next request.
/// </summary>
internal sealed class SnapshotFact<T>(Func<ConfigSnapshot, T> compute)
{
    private sealed record Entry(ConfigSnapshot Snapshot, T Value);

    private Entry? _entry;

    public T Of(ConfigSnapshot snapshot)
    {
        var entry = Volatile.Read(ref _entry);
        if (entry is not null && ReferenceEquals(entry.Snapshot, snapshot)) return entry.Value;
        // Two requests may compute it at once after a swap: the same value, the last write wins.
        entry = new Entry(snapshot, compute(snapshot));
        Volatile.Write(ref _entry, entry);
        return entry.Value;
    }
}

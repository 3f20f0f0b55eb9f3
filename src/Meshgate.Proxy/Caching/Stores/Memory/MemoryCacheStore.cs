namespace Meshgate.Proxy.Caching.Stores.Memory;

/// <summary>
/// Entries in this process, bounded in bytes: when a store would pass the bound, the least recently used keys
/// are evicted first. One lock; every operation is a dictionary and linked-list step.
/// </summary>
internal sealed class MemoryCacheStore(string name, long maxBytes) : ICacheStore
{
    private sealed record Slot(string Key, CachedResponse[] Variants, long Size);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, LinkedListNode<Slot>> _slots = new(StringComparer.Ordinal);
    private readonly LinkedList<Slot> _recency = new(); // most recently used first
    private long _bytes;

    public string Name => name;

    public long MaxBytes { get; set; } = maxBytes;

    /// <summary>Bytes held now (approximate, as <see cref="CachedResponse.Size"/> counts them).</summary>
    public long Bytes { get { lock (_lock) return _bytes; } }

    public int Count { get { lock (_lock) return _slots.Count; } }

    public ValueTask<IReadOnlyList<CachedResponse>?> GetAsync(string key) => new(Get(key));

    public ValueTask<bool> SetAsync(string key, CachedResponse response)
    {
        Set(key, response);
        return new(true);
    }

    public ValueTask RemoveAsync(string key)
    {
        Remove(key);
        return ValueTask.CompletedTask;
    }

    public ValueTask<int> PurgeUrlAsync(string url) => new(Remove((key, _) => CacheKey.UrlOf(key).Equals(url, StringComparison.Ordinal)));

    public ValueTask<int> PurgePrefixAsync(string prefix) => new(Remove((key, _) => CacheKey.UrlOf(key).StartsWith(prefix, StringComparison.Ordinal)));

    public ValueTask<int> PurgeSurrogateKeyAsync(string surrogateKey) =>
        new(Remove((_, variants) => variants.Any(v => v.SurrogateKeys.Contains(surrogateKey, StringComparer.Ordinal))));

    public IReadOnlyList<CachedResponse> Get(string key)
    {
        lock (_lock)
        {
            if (!_slots.TryGetValue(key, out var node)) return [];
            _recency.Remove(node);
            _recency.AddFirst(node);
            return node.Value.Variants;
        }
    }

    public void Set(string key, CachedResponse response)
    {
        lock (_lock)
        {
            var variants = new List<CachedResponse> { response };
            if (_slots.TryGetValue(key, out var old))
            {
                variants.AddRange(old.Value.Variants.Where(v => !v.SameSelectors(response)));
                Drop(old);
            }
            var slot = new Slot(key, [.. variants], key.Length * 2 + variants.Sum(v => v.Size));
            if (slot.Size > MaxBytes) return; // could never fit; keeps the bound a bound
            _slots[key] = _recency.AddFirst(slot);
            _bytes += slot.Size;
            while (_bytes > MaxBytes && _recency.Last is { } oldest) Drop(oldest);
        }
    }

    public bool Remove(string key)
    {
        lock (_lock)
        {
            if (!_slots.TryGetValue(key, out var node)) return false;
            Drop(node);
            return true;
        }
    }

    public int Remove(Func<string, IReadOnlyList<CachedResponse>, bool> match)
    {
        lock (_lock)
        {
            var removed = 0;
            for (var node = _recency.First; node is not null;)
            {
                var next = node.Next;
                if (match(node.Value.Key, node.Value.Variants))
                {
                    removed += node.Value.Variants.Length;
                    Drop(node);
                }
                node = next;
            }
            return removed;
        }
    }

    private void Drop(LinkedListNode<Slot> node)
    {
        _recency.Remove(node);
        _slots.Remove(node.Value.Key);
        _bytes -= node.Value.Size;
    }
}

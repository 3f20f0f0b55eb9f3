using Meshgate.Configuration.Compilation;

namespace Meshgate.Configuration.Sources;

/// <summary>For a config that has no file (the demo, tests): writes live until the process exits.</summary>
public sealed class MemoryConfigStore : IConfigStore
{
    private StoredConfig _current;

    /// <param name="revision">The running snapshot's version, which may hash a text other than <paramref name="yaml"/>.</param>
    public MemoryConfigStore(string yaml, string revision, string baseDirectory)
    {
        _current = new StoredConfig(yaml, revision);
        BaseDirectory = baseDirectory;
    }

    public string Name => "memory";
    public string BaseDirectory { get; }
    public bool Persistent => false;

    public Task<StoredConfig> ReadAsync(CancellationToken cancellationToken = default) => Task.FromResult(Volatile.Read(ref _current));

    public Task<ConfigStoreWrite> WriteAsync(string yaml, string expectedRevision, CancellationToken cancellationToken = default)
    {
        var next = new StoredConfig(yaml, ConfigCompiler.VersionOf(yaml));
        while (true)
        {
            var current = Volatile.Read(ref _current);
            if (current.Revision != expectedRevision) return Task.FromResult(new ConfigStoreWrite(false, current));
            if (Interlocked.CompareExchange(ref _current, next, current) == current) return Task.FromResult(new ConfigStoreWrite(true, next));
        }
    }
}

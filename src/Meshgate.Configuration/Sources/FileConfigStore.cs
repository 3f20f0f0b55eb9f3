using Meshgate.Configuration.Compilation;

namespace Meshgate.Configuration.Sources;

/// <summary>
/// The config file as a store. The revision is the hash of the file's text, so an edit by hand is a new revision
/// and a writer that read the old one gets a conflict instead of overwriting the edit. Writes go to a temporary
/// file in the same directory that is then renamed over the config: a reader (the gateway's own file watcher, a
/// restart) sees the old file or the new one, never half of one.
/// </summary>
public sealed class FileConfigStore : IConfigStore
{
    private readonly string _path;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public FileConfigStore(string path)
    {
        _path = Path.GetFullPath(path);
        BaseDirectory = Path.GetDirectoryName(_path)!;
    }

    public string Name => _path;
    public string BaseDirectory { get; }
    public bool Persistent => true;

    public async Task<StoredConfig> ReadAsync(CancellationToken cancellationToken = default)
    {
        var text = await File.ReadAllTextAsync(_path, cancellationToken);
        return new StoredConfig(text, ConfigCompiler.VersionOf(text));
    }

    public async Task<ConfigStoreWrite> WriteAsync(string yaml, string expectedRevision, CancellationToken cancellationToken = default)
    {
        // One writer at a time in this process; another process editing the file in the same instant is not
        // excluded (a file has no compare-and-swap), which is why shared deployments use etcd.
        await _gate.WaitAsync(cancellationToken);
        try
        {
            var current = await ReadAsync(cancellationToken);
            if (current.Revision != expectedRevision) return new ConfigStoreWrite(false, current);

            var temporary = Path.Combine(BaseDirectory, $".{Path.GetFileName(_path)}.{Guid.NewGuid():N}.tmp");
            try
            {
                await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None))
                {
                    await using var writer = new StreamWriter(stream);
                    await writer.WriteAsync(yaml.AsMemory(), cancellationToken);
                    await writer.FlushAsync(cancellationToken);
                    stream.Flush(flushToDisk: true);
                }
                // The file may hold a token: the new one keeps the old one's permissions.
                if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(temporary, File.GetUnixFileMode(_path));
                File.Move(temporary, _path, overwrite: true);
            }
            finally
            {
                if (File.Exists(temporary)) File.Delete(temporary);
            }
            return new ConfigStoreWrite(true, new StoredConfig(yaml, ConfigCompiler.VersionOf(yaml)));
        }
        finally
        {
            _gate.Release();
        }
    }
}

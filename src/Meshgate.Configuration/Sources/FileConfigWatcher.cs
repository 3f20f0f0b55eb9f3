namespace Meshgate.Configuration.Sources;

/// <summary>
/// Raises <see cref="Changed"/> once a burst of writes to the config file has settled. The directory
/// is watched, not the file, because editors and deploy tools replace files by renaming over them.
/// </summary>
public sealed class FileConfigWatcher : IDisposable
{
    private readonly FileSystemWatcher _watcher;
    private readonly Timer _debounce;
    private readonly TimeSpan _settle;

    public FileConfigWatcher(string path, TimeSpan settle)
    {
        var full = Path.GetFullPath(path);
        _settle = settle;
        _debounce = new Timer(_ => Changed?.Invoke(), null, Timeout.Infinite, Timeout.Infinite);
        _watcher = new FileSystemWatcher(Path.GetDirectoryName(full)!, Path.GetFileName(full))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime,
        };
        _watcher.Changed += (_, _) => Poke();
        _watcher.Created += (_, _) => Poke();
        _watcher.Renamed += (_, _) => Poke();
        _watcher.EnableRaisingEvents = true;
    }

    public event Action? Changed;

    private void Poke() => _debounce.Change(_settle, Timeout.InfiniteTimeSpan);

    public void Dispose()
    {
        _watcher.Dispose();
        _debounce.Dispose();
    }
}

namespace Meshgate.Configuration.Parsing;

/// <summary>The line of every key and item the reader saw, by YAML path, so errors found later can say where.</summary>
public sealed class SourceMap
{
    private readonly Dictionary<string, int> _lines = new(StringComparer.Ordinal);

    public SourceMap(string? file) => File = file;

    public string? File { get; }

    internal void Record(string path, int line) => _lines.TryAdd(path, line);

    /// <summary>The line of the path, or of its nearest recorded parent.</summary>
    public int? LineOf(string path)
    {
        while (true)
        {
            if (_lines.TryGetValue(path, out var line)) return line;
            var cut = Math.Max(path.LastIndexOf('.'), path.LastIndexOf('['));
            if (cut <= 0) return null;
            path = path[..cut];
        }
    }
}

namespace Meshgate.Configuration.Validation;

/// <summary>One problem in a config, located by its YAML path (routes[2].cluster) and, when known, file and line.</summary>
public sealed record ConfigError(string Path, string Message)
{
    public string? File { get; init; }
    public int? Line { get; init; }

    public override string ToString()
    {
        var where = (File, Line) switch
        {
            (not null, not null) => $"{File}:{Line} ",
            (not null, null) => $"{File} ",
            (null, not null) => $"line {Line} ",
            _ => "",
        };
        return Path.Length == 0 ? $"{where}{Message}".TrimEnd() : $"{where}{Path}: {Message}";
    }
}

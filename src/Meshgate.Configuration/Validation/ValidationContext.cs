namespace Meshgate.Configuration.Validation;

/// <summary>Collects errors by path while validators walk a definition. Validators never throw.</summary>
public sealed class ValidationContext(string baseDirectory)
{
    private readonly List<ConfigError> _errors = [];

    /// <summary>Directory that relative file paths in the config are resolved against: the config file's.</summary>
    public string BaseDirectory { get; } = baseDirectory;

    public IReadOnlyList<ConfigError> Errors => _errors;

    public void Error(string path, string message) => _errors.Add(new ConfigError(path, message));

    public string ResolvePath(string path) => Path.GetFullPath(path, BaseDirectory);

    /// <summary>Reports a missing or unreadable file; returns whether it can be read.</summary>
    public bool CheckFile(string path, string? file)
    {
        if (file is null) return false;
        var full = ResolvePath(file);
        if (!File.Exists(full))
        {
            Error(path, $"file '{file}' does not exist (looked for {full})");
            return false;
        }
        return true;
    }
}

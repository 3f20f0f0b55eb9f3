namespace Meshgate.Configuration.Validation;

/// <summary>Collects errors by path while validators walk a definition. Validators never throw.</summary>
public sealed class ValidationContext(string baseDirectory)
{
    private readonly List<ConfigError> _errors = [];

    /// <summary>Directory that relative file paths in the config are resolved against: the config file's.</summary>
    public string BaseDirectory { get; } = baseDirectory;

    public IReadOnlyList<ConfigError> Errors => _errors;

    public void Error(string path, string message) => _errors.Add(new ConfigError(path, message));

    /// <summary>A name that refers to nothing: suggests the likely intended one, or lists what exists.</summary>
    /// <param name="what">What the name should refer to: "cluster", "CORS policy".</param>
    /// <param name="noneDefined">Said when nothing of the kind exists, e.g. "no clusters are defined".</param>
    public void UnknownReference(string path, string what, string name, IReadOnlyCollection<string> defined, string noneDefined)
    {
        var guess = Spelling.Closest(name, defined);
        Error(path, $"unknown {what} '{name}'" + (guess is not null
            ? $" (did you mean '{guess}'?)"
            : defined.Count == 0 ? $" ({noneDefined})" : $" (defined: {string.Join(", ", defined)})"));
    }

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

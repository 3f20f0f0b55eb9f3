using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;
using Meshgate.Configuration.Validation;

namespace Meshgate.Configuration;

/// <summary>Read, validate, compile: the one road from YAML text to a snapshot, used by every source and by <c>validate</c>.</summary>
public static class ConfigLoader
{
    public sealed record Result(ConfigSnapshot? Snapshot, IReadOnlyList<ConfigError> Errors)
    {
        public bool Ok => Snapshot is not null;
    }

    public static Result LoadFile(string path)
    {
        var full = Path.GetFullPath(path);
        string text;
        try
        {
            text = File.ReadAllText(full);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new Result(null, [new ConfigError("", $"cannot read the config file: {e.Message}") { File = path }]);
        }
        return Load(text, path, Path.GetDirectoryName(full)!);
    }

    /// <param name="file">Name used in error messages and as the snapshot's source.</param>
    /// <param name="baseDirectory">Where relative paths in the config (certificates, token files) are resolved.</param>
    /// <param name="adjust">Applied to the definition before validation, e.g. the demo's --port.</param>
    public static Result Load(string yaml, string? file, string baseDirectory, Func<MeshgateDefinition, MeshgateDefinition>? adjust = null)
    {
        var read = ConfigReader.Read(yaml, file);
        if (read.Definition is null) return new Result(null, read.Errors);
        var definition = adjust is null ? read.Definition : adjust(read.Definition);

        var errors = ConfigValidator.Validate(definition, baseDirectory);
        if (errors.Count > 0) return new Result(null, Locate(errors, read.SourceMap));

        var (snapshot, compileErrors) = ConfigCompiler.Compile(definition, ConfigCompiler.VersionOf(yaml), baseDirectory, file);
        return snapshot is null ? new Result(null, Locate(compileErrors, read.SourceMap)) : new Result(snapshot, []);
    }

    private static List<ConfigError> Locate(IEnumerable<ConfigError> errors, SourceMap map) =>
        errors.Select(e => e with { File = map.File, Line = map.LineOf(e.Path) }).ToList();
}

using System.CommandLine;

namespace Meshgate.Commands;

internal static class ConfigOption
{
    public static Option<string> Create() => new("--config", "-c")
    {
        Description = "Path of the YAML config file.",
        DefaultValueFactory = _ => "meshgate.yaml",
    };

    /// <summary>Exit code for an invalid config, as `nginx -t` users expect a distinct one.</summary>
    public const int InvalidConfigExitCode = 2;

    public static void PrintErrors(TextWriter output, IReadOnlyList<Configuration.Validation.ConfigError> errors)
    {
        foreach (var error in errors) output.WriteLine(error);
        output.WriteLine($"{errors.Count} error{(errors.Count == 1 ? "" : "s")}: the config was not applied");
    }
}

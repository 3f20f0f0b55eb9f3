using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>The top-level accessLog section.</summary>
internal static class AccessLogValidator
{
    public const int MaxQueue = 1_000_000;
    public const int MaxRotatedFiles = 1000;

    public static bool IsStdout(string output) => string.Equals(output, AccessLogDefinition.Stdout, StringComparison.OrdinalIgnoreCase);

    public static void Validate(AccessLogDefinition? log, ValidationContext context)
    {
        if (log is null) return;
        CheckOutput(log.Output, context);
        if (log.MaxFileSize.Bytes <= 0) context.Error("accessLog.maxFileSize", "must be greater than 0, e.g. 100MiB");
        if (log.MaxFiles is < 1 or > MaxRotatedFiles) context.Error("accessLog.maxFiles", $"must be between 1 and {MaxRotatedFiles}, found {log.MaxFiles}");
        if (log.Queue is < 1 or > MaxQueue) context.Error("accessLog.queue", $"must be between 1 and {MaxQueue}, found {log.Queue}");
        // Written so that NaN fails too.
        if (!(log.SampleSuccesses >= 0 && log.SampleSuccesses <= 1))
        {
            context.Error("accessLog.sampleSuccesses", $"must be between 0 and 1 (the fraction of successful requests to log; 1 logs all), found {log.SampleSuccesses.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
        }
        if (log.Fields is { } fields)
        {
            if (fields.Count == 0) context.Error("accessLog.fields", "must list at least one field; leave fields out to log all of them");
            var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < fields.Count; i++)
            {
                var name = fields[i];
                if (!AccessLogFields.TryParse(name, out _))
                {
                    var guess = Spelling.Closest(name, AccessLogFields.Names);
                    context.Error($"accessLog.fields[{i}]", $"unknown field '{name}'" + (guess is not null ? $" (did you mean '{guess}'?)" : $" (fields: {string.Join(", ", AccessLogFields.Names)})"));
                }
                else if (!seen.Add(name))
                {
                    context.Error($"accessLog.fields[{i}]", $"'{name}' is listed twice");
                }
            }
        }
    }

    private static void CheckOutput(string output, ValidationContext context)
    {
        const string path = "accessLog.output";
        if (IsStdout(output)) return;
        if (string.IsNullOrWhiteSpace(output))
        {
            context.Error(path, "must be stdout or the path of a file, e.g. logs/access.log");
            return;
        }
        var full = context.ResolvePath(output);
        if (Directory.Exists(full) || output.EndsWith('/') || output.EndsWith(Path.DirectorySeparatorChar))
        {
            context.Error(path, $"'{output}' is a directory; give the path of a file in it, e.g. {Path.Combine(output, "access.log")}");
            return;
        }
        var directory = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(directory))
        {
            context.Error(path, $"the directory '{directory}' does not exist; create it first (the gateway does not create directories)");
            return;
        }
        // A throwaway file proves the directory takes new files, which rotation needs; it is gone on close.
        try
        {
            using var probe = new FileStream(Path.Combine(directory, $".meshgate-write-check-{Guid.NewGuid():N}"), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.DeleteOnClose);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            context.Error(path, $"cannot write in the directory '{directory}': {e.Message}");
        }
    }
}

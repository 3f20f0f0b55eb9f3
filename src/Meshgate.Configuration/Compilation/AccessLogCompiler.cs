using Meshgate.Configuration.Model;
using Meshgate.Configuration.Validation;

namespace Meshgate.Configuration.Compilation;

/// <summary>Builds the <see cref="AccessLogPolicy"/> from a validated definition.</summary>
internal static class AccessLogCompiler
{
    public static AccessLogPolicy? Compile(MeshgateDefinition definition, ValidationContext context)
    {
        if (definition.AccessLog is not { } log) return null;
        var mask = 0L;
        foreach (var name in log.Fields ?? [])
        {
            if (AccessLogFields.TryParse(name, out var field)) mask |= 1L << (int)field;
        }
        var redacted = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var provider in definition.Authentication.Values)
        {
            if (provider.Jwt?.QueryParameter is { } jwt) redacted.Add(jwt);
            if (provider.ApiKeys?.QueryParameter is { } apiKey) redacted.Add(apiKey);
        }
        return new AccessLogPolicy(
            AccessLogValidator.IsStdout(log.Output) ? null : context.ResolvePath(log.Output),
            log.MaxFileSize.Bytes,
            log.MaxFiles,
            log.Fields is null ? AccessLogFields.All : mask,
            log.Query,
            log.SampleSuccesses,
            log.Queue,
            redacted);
    }
}

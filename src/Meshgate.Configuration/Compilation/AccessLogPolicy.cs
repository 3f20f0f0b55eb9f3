namespace Meshgate.Configuration.Compilation;

/// <summary>The fields an access-log line can carry, in the order they are written.</summary>
public enum AccessLogField
{
    Time,
    Route,
    Cluster,
    Endpoint,
    Method,
    Path,
    Status,
    DurationMs,
    UpstreamMs,
    BytesIn,
    BytesOut,
    ClientIp,
    Consumer,
    TraceId,
    Cache,
    RateLimit,
    Fault,
    Attempts,
}

/// <summary>The YAML and JSON spelling of <see cref="AccessLogField"/>s: camelCase of the member name.</summary>
public static class AccessLogFields
{
    public static IReadOnlyList<string> Names { get; } = Enum.GetValues<AccessLogField>().Select(NameOf).ToList();

    /// <summary>Every field: what a config without <c>fields</c> logs.</summary>
    public static long All { get; } = (1L << Names.Count) - 1;

    public static string NameOf(AccessLogField field)
    {
        var name = field.ToString();
        return char.ToLowerInvariant(name[0]) + name[1..];
    }

    public static bool TryParse(string name, out AccessLogField field)
    {
        for (var i = 0; i < Names.Count; i++)
        {
            if (string.Equals(Names[i], name, StringComparison.OrdinalIgnoreCase))
            {
                field = (AccessLogField)i;
                return true;
            }
        }
        field = default;
        return false;
    }
}

/// <summary>The compiled access-log settings of one snapshot.</summary>
/// <param name="File">Absolute path of the log file; null for standard output.</param>
/// <param name="FieldMask">Bit <c>1 &lt;&lt; (int)field</c> set for each field to write.</param>
/// <param name="RedactedQueryParameters">Query parameters whose values never reach the log (those authentication providers read credentials from).</param>
public sealed record AccessLogPolicy(string? File, long MaxFileSize, int MaxFiles, long FieldMask, bool Query, double SampleSuccesses, int Queue, IReadOnlySet<string> RedactedQueryParameters)
{
    public bool Logs(AccessLogField field) => (FieldMask & (1L << (int)field)) != 0;

    /// <summary>Where the lines go, for display: the file path or "stdout".</summary>
    public string Output => File ?? Model.AccessLogDefinition.Stdout;
}

using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>
/// The access log: one JSON line per request. Absent: no access log, and the request path pays nothing.
/// <c>accessLog: stdout</c> (or a file path) is short for <c>accessLog: { output: ... }</c>.
/// </summary>
[ScalarShorthand(nameof(Output))]
public sealed record AccessLogDefinition
{
    /// <summary>The value of <see cref="Output"/> that writes to standard output.</summary>
    public const string Stdout = "stdout";

    [Description("stdout (the default), or the path of a file (relative to the config file's directory); its directory must exist and be writable. Applied on reload: the new file is opened, lines already queued are written to it.")]
    public string Output { get; init; } = Stdout;

    [Description("File output: when the file would grow past this size it is renamed to <file>.1 (older ones shift to .2 ...) and a new file is started. Lines are never split. Default 100MiB.")]
    public ByteSize MaxFileSize { get; init; } = new(100L << 20);

    [Description("File output: rotated files kept (<file>.1 ... <file>.N); the oldest is deleted. 1..1000, default 5.")]
    public int MaxFiles { get; init; } = 5;

    [Description("The fields each line carries (any of time, route, cluster, endpoint, method, path, status, durationMs, upstreamMs, bytesIn, bytesOut, clientIp, consumer, traceId, cache, rateLimit, fault, attempts). Absent: all of them.")]
    public List<string>? Fields { get; init; }

    [Description("Log the query string with the path. Default false: query strings often carry tokens and personal data. Values of query parameters that authentication providers read are always redacted.")]
    public bool Query { get; init; }

    [Description("Fraction of successful requests (status below 400) to log, 0..1. Default 1 (all). Errors are always logged.")]
    public double SampleSuccesses { get; init; } = 1.0;

    [Description("Lines that may wait for the writer; when full, new lines are dropped (and counted), never waiting. 1..1000000, default 10000. Fixed when the process starts.")]
    public int Queue { get; init; } = 10_000;
}

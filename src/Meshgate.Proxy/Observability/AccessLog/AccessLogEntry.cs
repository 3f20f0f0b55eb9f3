using System.Diagnostics;
using System.Net;
using Meshgate.Configuration.Compilation;

namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>
/// What one request left for its log line: references and numbers taken as they are, so the request
/// thread formats nothing. A struct, so the bounded queue holds entries without an object each.
/// </summary>
internal readonly struct AccessLogEntry
{
    /// <summary>The settings of the snapshot current when the request started: which fields, whether the query.</summary>
    public required AccessLogPolicy Policy { get; init; }

    /// <summary>When the request started.</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>Request start to completion, in <see cref="Stopwatch"/> ticks.</summary>
    public required long DurationTicks { get; init; }

    /// <summary>Summed upstream attempts, in <see cref="Stopwatch"/> ticks; 0 when no attempt was made.</summary>
    public long UpstreamTicks { get; init; }

    public string? Route { get; init; }
    public string? Cluster { get; init; }

    /// <summary>Address of the destination the request was proxied to.</summary>
    public string? Endpoint { get; init; }

    public required string Method { get; init; }
    public string? Path { get; init; }

    /// <summary>The raw query string ("?a=1"); only taken when the policy logs queries.</summary>
    public string? Query { get; init; }

    public required int Status { get; init; }
    public long BytesIn { get; init; }
    public long BytesOut { get; init; }
    public IPAddress? ClientIp { get; init; }
    public string? Consumer { get; init; }

    /// <summary>The request's W3C trace id (tracing's context, or without tracing the caller's traceparent); default when there was none.</summary>
    public Tracing.TraceId TraceId { get; init; }

    /// <summary>The request's <c>HttpContext.TraceIdentifier</c>, taken only when there was no trace id.</summary>
    public string? RequestId { get; init; }

    public string? Cache { get; init; }
    public string? RateLimit { get; init; }
    public string? Fault { get; init; }
    public int Attempts { get; init; }
}

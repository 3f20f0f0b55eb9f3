using System.Diagnostics;
using System.Globalization;

namespace Meshgate.Proxy.Observability.Tracing;

/// <summary>
/// The client span of one upstream attempt, for both forwarders: YARP's (through <see cref="UpstreamSpanHandler"/>)
/// and the direct HTTP/1.1 path. A span is made only for a recorded request; an unrecorded one still sends its trace
/// context (<see cref="TraceContextFeature"/>), naming the gateway's span id as parent. Attributes follow OpenTelemetry's
/// HTTP client conventions.
/// </summary>
internal static class UpstreamSpans
{
    public const string SourceName = "Meshgate.Upstream";

    private static readonly ActivitySource Source = new(SourceName);

    /// <summary>The span of an attempt of a recorded request; null when the request is not recorded (or nothing listens).</summary>
    public static Activity? Start(string method) =>
        Activity.Current is { Recorded: true } ? Source.StartActivity(method, ActivityKind.Client) : null;

    /// <summary>Whether the span wants its attributes (sampled and exported); tags are only built then.</summary>
    public static bool Describes(Activity? span) => span is { IsAllDataRequested: true };

    public static void Describe(Activity span, string method, Uri uri)
    {
        span.SetTag("http.request.method", method);
        span.SetTag("server.address", uri.Host);
        span.SetTag("server.port", uri.Port);
        span.SetTag("url.full", RedactedUrl(uri));
    }

    public static void Answered(Activity span, int status, string protocolVersion)
    {
        span.SetTag("http.response.status_code", status);
        span.SetTag("network.protocol.version", protocolVersion);
        // On a client span every status of 400 and up is an error (the server span counts only 5xx).
        if (status >= 400)
        {
            span.SetTag("error.type", status.ToString(CultureInfo.InvariantCulture));
            span.SetStatus(ActivityStatusCode.Error);
        }
    }

    public static void Failed(Activity span, Exception e)
    {
        span.SetTag("error.type", e is OperationCanceledException ? "cancelled" : e.GetType().FullName);
        span.SetStatus(ActivityStatusCode.Error, e.Message);
    }

    /// <summary>The URL without user info, and with query values replaced by '*': queries often carry tokens.</summary>
    internal static string RedactedUrl(Uri uri)
    {
        var withoutQuery = uri.GetComponents(UriComponents.SchemeAndServer | UriComponents.Path, UriFormat.UriEscaped);
        if (uri.Query.Length <= 1) return withoutQuery;
        var pairs = uri.Query[1..].Split('&');
        for (var i = 0; i < pairs.Length; i++)
        {
            var equals = pairs[i].IndexOf('=');
            if (equals >= 0) pairs[i] = pairs[i][..(equals + 1)] + "*";
        }
        return withoutQuery + "?" + string.Join('&', pairs);
    }
}

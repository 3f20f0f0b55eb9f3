using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Observability.AccessLog;

namespace Meshgate.Proxy.Tests.Observability.AccessLog;

public sealed class AccessLogFormatterTests
{
    private static AccessLogPolicy Policy(bool query = false, params string[] redacted) =>
        new(null, 1 << 20, 5, AccessLogFields.All, query, 1, 10, new HashSet<string>(redacted, StringComparer.OrdinalIgnoreCase));

    [Theory]
    [InlineData("?a=1&api_key=s3cret&b=2", "?a=1&api_key=[redacted]&b=2")]
    [InlineData("?API_KEY=s3cret", "?API_KEY=[redacted]")]
    [InlineData("?api%5Fkey=s3cret", "?api%5Fkey=[redacted]")]
    [InlineData("?api_key", "?api_key=[redacted]")]
    [InlineData("?a=1&b=2", "?a=1&b=2")]
    [InlineData("?api_keys=x", "?api_keys=x")]
    public void Redact_ReplacesOnlyCredentialParameterValues(string query, string expected) =>
        Assert.Equal(expected, AccessLogFormatter.Redact(query, new HashSet<string>(["api_key"], StringComparer.OrdinalIgnoreCase)));

    [Fact]
    public void Format_EscapesWhatCouldBreakTheLine_AndWritesTheTraceId()
    {
        var activityTraceId = ActivityTraceId.CreateRandom();
        var traceId = Meshgate.Proxy.Observability.Tracing.TraceId.From(activityTraceId);
        var entry = new AccessLogEntry
        {
            Policy = Policy(query: true, "token"),
            Time = new DateTimeOffset(2026, 11, 29, 22, 0, 0, TimeSpan.Zero),
            DurationTicks = Stopwatch.Frequency / 4,
            UpstreamTicks = Stopwatch.Frequency / 8,
            Method = "GET",
            Path = "/a\"b\nc",
            Query = "?token=t&x=é",
            Status = 200,
            ClientIp = IPAddress.Parse("::ffff:10.1.2.3"),
            TraceId = traceId,
            RequestId = "ignored-when-there-is-a-trace",
        };

        var line = Encoding.UTF8.GetString(new AccessLogFormatter().Format(entry));

        Assert.EndsWith("}\n", line, StringComparison.Ordinal);
        Assert.Single(line.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var json = JsonDocument.Parse(line).RootElement;
        Assert.Equal("2026-11-29T22:00:00Z", json.GetProperty("time").GetString());
        Assert.Equal("/a\"b\nc?token=[redacted]&x=é", json.GetProperty("path").GetString());
        Assert.Equal(250, json.GetProperty("durationMs").GetDouble());
        Assert.Equal(125, json.GetProperty("upstreamMs").GetDouble());
        Assert.Equal("10.1.2.3", json.GetProperty("clientIp").GetString());
        Assert.Equal(activityTraceId.ToHexString(), json.GetProperty("traceId").GetString());
    }

    [Fact]
    public void Format_NoTraceId_UsesTheRequestId()
    {
        var entry = new AccessLogEntry { Policy = Policy(), Time = DateTimeOffset.UnixEpoch, DurationTicks = 0, Method = "GET", Status = 404, RequestId = "0HN:00000001" };

        var json = JsonDocument.Parse(new AccessLogFormatter().Format(entry).ToArray()).RootElement;

        Assert.Equal("0HN:00000001", json.GetProperty("traceId").GetString());
        Assert.Equal(JsonValueKind.Null, json.GetProperty("clientIp").ValueKind);
    }
}

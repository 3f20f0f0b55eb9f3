using System.Buffers;
using System.Text.Encodings.Web;
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

/// <summary>
/// The formatter writes its lines by hand; these check them byte for byte against System.Text.Json's writer (relaxed escaping,
/// as the formatter used before), over many entries, every field on or off, and strings that need escaping or not.
/// </summary>
public sealed class AccessLogFormatterLineTests
{
    private static readonly string[] Strings =
    [
        "", "/plain/", "GET", "/a\"b\nc", "back\\slash", "tab\there", "é", "日本", "emoji 😀", "del \u007f",
        "line\u2028sep", "<html>&'+`", "ctrl \u0001\u001f", "~!@#$%^*()_-=[]{}|;:,./?", "http://10.0.0.1:8080", "0HN7:00000001",
    ];

    [Fact]
    public void Format_WritesWhatSystemTextJsonWrites()
    {
        var random = new Random(7);
        var formatter = new AccessLogFormatter();
        for (var i = 0; i < 5000; i++)
        {
            var entry = RandomEntry(random);
            var expected = Reference(entry);
            var actual = Encoding.UTF8.GetString(formatter.Format(entry));
            Assert.Equal(expected, actual);
        }
    }

    [Theory]
    [InlineData("/plain/", true)]
    [InlineData("a\"b", false)]
    [InlineData("a\\b", false)]
    [InlineData("a\nb", false)]
    [InlineData("é", false)]
    [InlineData("\u007f", false)]
    [InlineData(" ~", true)]
    public void IsPlain_OnlyPrintableAsciiWithoutQuoteOrBackslash(string value, bool plain) =>
        Assert.Equal(plain, AccessLogFormatter.IsPlain(value));

    private static AccessLogEntry RandomEntry(Random random)
    {
        string? Text() => random.Next(6) == 0 ? null : Strings[random.Next(Strings.Length)];
        var fields = random.Next(3) == 0 ? random.NextInt64(AccessLogFields.All + 1) : AccessLogFields.All;
        var query = random.Next(4) == 0;
        var policy = new AccessLogPolicy(null, 1 << 20, 5, fields, query, 1, 10, new HashSet<string>(["token"], StringComparer.OrdinalIgnoreCase));
        IPAddress? ip = random.Next(5) switch
        {
            0 => null,
            1 => IPAddress.Parse("::ffff:10.1.2.3"),
            2 => IPAddress.Parse("2001:db8::1"),
            3 => IPAddress.Parse("fe80::1%2"),
            _ => new IPAddress(random.NextInt64(uint.MaxValue)),
        };
        var ticks = random.Next(4) switch
        {
            0 => 0,
            1 => Stopwatch.Frequency / random.Next(1, 1000),
            2 => random.NextInt64(Stopwatch.Frequency * 100),
            _ => random.NextInt64(1000),
        };
        var time = random.Next(3) switch
        {
            0 => new DateTimeOffset(2026, 11, 29, 22, 0, 0, TimeSpan.Zero),
            1 => new DateTimeOffset(random.NextInt64(DateTime.MinValue.Ticks, DateTime.MaxValue.Ticks), TimeSpan.Zero),
            _ => new DateTimeOffset(2026, 1, 2, 3, 4, 5, TimeSpan.FromHours(2)).AddTicks(random.Next(10_000_000) / (int)Math.Pow(10, random.Next(7))),
        };
        return new AccessLogEntry
        {
            Policy = policy,
            Time = time,
            DurationTicks = ticks,
            UpstreamTicks = random.Next(3) == 0 ? 0 : ticks / 2,
            Route = Text(),
            Cluster = Text(),
            Endpoint = Text(),
            Method = Text() ?? "GET",
            Path = Text(),
            Query = query ? (random.Next(2) == 0 ? "?token=t&x=é" : "?a=1") : null,
            Status = random.Next(100, 600),
            BytesIn = random.Next(2) == 0 ? 0 : random.NextInt64(),
            BytesOut = random.NextInt64(1 << 20),
            ClientIp = ip,
            Consumer = Text(),
            TraceId = random.Next(2) == 0 ? default : Meshgate.Proxy.Observability.Tracing.TraceId.From(ActivityTraceId.CreateRandom()),
            RequestId = Text(),
            Cache = Text(),
            RateLimit = Text(),
            Fault = Text(),
            Attempts = random.Next(4),
        };
    }

    /// <summary>The line as System.Text.Json's writer makes it, field for field in the formatter's order.</summary>
    private static string Reference(in AccessLogEntry e)
    {
        var buffer = new ArrayBufferWriter<byte>();
        using var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true });
        var p = e.Policy;
        void Text(AccessLogField field, string? value)
        {
            if (value is null) json.WriteNull(AccessLogFields.NameOf(field));
            else json.WriteString(AccessLogFields.NameOf(field), value);
        }
        double Ms(long ticks) => Math.Round(ticks * 1000.0 / Stopwatch.Frequency, 3);
        json.WriteStartObject();
        if (p.Logs(AccessLogField.Time)) json.WriteString("time", e.Time.UtcDateTime);
        if (p.Logs(AccessLogField.Route)) Text(AccessLogField.Route, e.Route);
        if (p.Logs(AccessLogField.Cluster)) Text(AccessLogField.Cluster, e.Cluster);
        if (p.Logs(AccessLogField.Endpoint)) Text(AccessLogField.Endpoint, e.Endpoint);
        if (p.Logs(AccessLogField.Method)) Text(AccessLogField.Method, e.Method);
        if (p.Logs(AccessLogField.Path)) Text(AccessLogField.Path, e.Query is { Length: > 0 } q ? e.Path + AccessLogFormatter.Redact(q, p.RedactedQueryParameters) : e.Path);
        if (p.Logs(AccessLogField.Status)) json.WriteNumber(AccessLogFields.NameOf(AccessLogField.Status), e.Status);
        if (p.Logs(AccessLogField.DurationMs)) json.WriteNumber(AccessLogFields.NameOf(AccessLogField.DurationMs), Ms(e.DurationTicks));
        if (p.Logs(AccessLogField.UpstreamMs)) json.WriteNumber(AccessLogFields.NameOf(AccessLogField.UpstreamMs), Ms(e.UpstreamTicks));
        if (p.Logs(AccessLogField.BytesIn)) json.WriteNumber(AccessLogFields.NameOf(AccessLogField.BytesIn), e.BytesIn);
        if (p.Logs(AccessLogField.BytesOut)) json.WriteNumber(AccessLogFields.NameOf(AccessLogField.BytesOut), e.BytesOut);
        if (p.Logs(AccessLogField.ClientIp))
        {
            var ip = e.ClientIp is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : e.ClientIp;
            Text(AccessLogField.ClientIp, ip?.ToString());
        }
        if (p.Logs(AccessLogField.Consumer)) Text(AccessLogField.Consumer, e.Consumer);
        if (p.Logs(AccessLogField.TraceId)) Text(AccessLogField.TraceId, e.TraceId.IsEmpty ? e.RequestId : e.TraceId.ToString());
        if (p.Logs(AccessLogField.Cache)) Text(AccessLogField.Cache, e.Cache);
        if (p.Logs(AccessLogField.RateLimit)) Text(AccessLogField.RateLimit, e.RateLimit);
        if (p.Logs(AccessLogField.Fault)) Text(AccessLogField.Fault, e.Fault);
        if (p.Logs(AccessLogField.Attempts)) json.WriteNumber(AccessLogFields.NameOf(AccessLogField.Attempts), e.Attempts);
        json.WriteEndObject();
        json.Flush();
        return Encoding.UTF8.GetString(buffer.WrittenSpan) + "\n";
    }
}

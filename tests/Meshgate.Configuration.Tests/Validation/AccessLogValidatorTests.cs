using Meshgate.Configuration.Compilation;

namespace Meshgate.Configuration.Tests.Validation;

public sealed class AccessLogValidatorTests
{
    // Line 1 holds the listener, line 2 "accessLog:"; the keys under test start on line 3.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\naccessLog:\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // Fields.
        { Head + "  fields: [time, stauts]\n", 3, "accessLog.fields[1]", "unknown field 'stauts' (did you mean 'status'?)" },
        { Head + "  fields: [bogus]\n", 3, "accessLog.fields[0]", "unknown field 'bogus' (fields: time, route, cluster, endpoint, method, path, status, durationMs, upstreamMs, bytesIn, bytesOut, clientIp, consumer, traceId, cache, rateLimit, fault, attempts)" },
        { Head + "  fields: []\n", 3, "accessLog.fields", "must list at least one field; leave fields out to log all of them" },
        { Head + "  fields: [status, Status]\n", 3, "accessLog.fields[1]", "'Status' is listed twice" },

        // Sampling.
        { Head + "  sampleSuccesses: 1.5\n", 3, "accessLog.sampleSuccesses", "must be between 0 and 1 (the fraction of successful requests to log; 1 logs all), found 1.5" },
        { Head + "  sampleSuccesses: -0.1\n", 3, "accessLog.sampleSuccesses", "must be between 0 and 1" },
        { Head + "  sampleSuccesses: NaN\n", 3, "accessLog.sampleSuccesses", "found NaN" },
        { Head + "  sampleSuccesses: half\n", 3, "accessLog.sampleSuccesses", "a number" },

        // Sizes and counts.
        { Head + "  maxFileSize: 0\n", 3, "accessLog.maxFileSize", "must be greater than 0" },
        { Head + "  maxFileSize: -1MiB\n", 3, "accessLog.maxFileSize", "a size like" },
        { Head + "  maxFiles: 0\n", 3, "accessLog.maxFiles", "must be between 1 and 1000, found 0" },
        { Head + "  maxFiles: 1001\n", 3, "accessLog.maxFiles", "must be between 1 and 1000, found 1001" },
        { Head + "  queue: 0\n", 3, "accessLog.queue", "must be between 1 and 1000000, found 0" },
        { Head + "  queue: 2000000\n", 3, "accessLog.queue", "must be between 1 and 1000000, found 2000000" },

        // Output.
        { Head + "  output: \"\"\n", 3, "accessLog.output", "must be stdout or the path of a file" },
        { Head + "  output: missing/access.log\n", 3, "accessLog.output", "/missing' does not exist; create it first" },
        { Head + "  output: .\n", 3, "accessLog.output", "'.' is a directory; give the path of a file in it" },
        { Head + "  output: logs/\n", 3, "accessLog.output", "'logs/' is a directory" },
        { Head + "  output: /proc/meshgate-access.log\n", 3, "accessLog.output", "cannot write in the directory '/proc'" },

        // Keys.
        { Head + "  outptu: stdout\n", 3, "accessLog.outptu", "unknown key 'outptu' (did you mean 'output'?)" },
        { Head + "  query: sometimes\n", 3, "accessLog.query", "true or false" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidAccessLog_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Compile_NoAccessLog_IsOff() =>
        Assert.Null(ConfigText.Snapshot("listeners: [{ name: public, address: 127.0.0.1:8080 }]\n").AccessLog);

    [Fact]
    public void Compile_EmptySection_IsStdoutWithAllFieldsAndTheDefaults()
    {
        var log = ConfigText.Snapshot(Head.TrimEnd('\n') + " {}\n").AccessLog!;

        Assert.Null(log.File);
        Assert.Equal("stdout", log.Output);
        Assert.Equal(100L << 20, log.MaxFileSize);
        Assert.Equal(5, log.MaxFiles);
        Assert.Equal(10_000, log.Queue);
        Assert.Equal(1.0, log.SampleSuccesses);
        Assert.False(log.Query);
        Assert.All(Enum.GetValues<AccessLogField>(), f => Assert.True(log.Logs(f), f.ToString()));
    }

    [Fact]
    public void Compile_ScalarShorthand_IsTheOutput()
    {
        var directory = TestKit.TempDirectory.Create();
        var log = ConfigText.Snapshot("listeners: [{ name: public, address: 127.0.0.1:8080 }]\naccessLog: logs.jsonl\n", directory).AccessLog!;

        Assert.Equal(Path.Combine(directory, "logs.jsonl"), log.File);
    }

    [Fact]
    public void Compile_FullSection_KeepsEverySetting()
    {
        var directory = TestKit.TempDirectory.Create();
        Directory.CreateDirectory(Path.Combine(directory, "logs"));
        var log = ConfigText.Snapshot(Head + """
              output: logs/access.log
              maxFileSize: 10MiB
              maxFiles: 3
              fields: [time, Status, route]
              query: true
              sampleSuccesses: 0.25
              queue: 500
            authentication:
              keys: { apiKeys: { queryParameter: api_key, consumers: { a: { keys: ["2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"] } } } }
              tokens: { jwt: { issuer: https://id.example.com, audiences: [x], jwksUri: https://id.example.com/jwks, queryParameter: access_token } }
            """, directory).AccessLog!;

        Assert.Equal(Path.Combine(directory, "logs", "access.log"), log.File);
        Assert.Equal(10L << 20, log.MaxFileSize);
        Assert.Equal(3, log.MaxFiles);
        Assert.Equal(500, log.Queue);
        Assert.Equal(0.25, log.SampleSuccesses);
        Assert.True(log.Query);
        Assert.Equal([AccessLogField.Time, AccessLogField.Route, AccessLogField.Status], Enum.GetValues<AccessLogField>().Where(log.Logs));
        Assert.Equal(["access_token", "api_key"], log.RedactedQueryParameters.Order(StringComparer.Ordinal));
    }
}

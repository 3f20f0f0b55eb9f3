using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Tests.Validation;

public sealed class TracingValidatorTests
{
    // Line 1 holds the listener, line 2 "tracing:"; the keys under test start on line 3.
    private const string Head = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\ntracing:\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // Sampling.
        { Head + "  sampling: 1.5\n", 3, "tracing.sampling", "must be between 0 and 1 (the fraction of new traces to record; 0.01 records one in a hundred), found 1.5" },
        { Head + "  sampling: -0.01\n", 3, "tracing.sampling", "must be between 0 and 1" },
        { Head + "  sampling: NaN\n", 3, "tracing.sampling", "found NaN" },
        { Head + "  sampling: 1%\n", 3, "tracing.sampling", "a number" },

        // Endpoint and protocol.
        { Head + "  endpoint: otel-collector:4317\n", 3, "tracing.endpoint", "'otel-collector:4317' is not an http:// or https:// URL, e.g. http://otel-collector:4317" },
        { Head + "  endpoint: localhost\n", 3, "tracing.endpoint", "is not an http:// or https:// URL" },
        { Head + "  endpoint: grpc://collector:4317\n", 3, "tracing.endpoint", "'grpc://collector:4317' is not an http:// or https:// URL" },
        { Head + "  endpoint: http://collector:4318/v1/traces?x=1\n", 3, "tracing.endpoint", "is not an http:// or https:// URL" },
        { Head + "  protocol: http\n", 3, "tracing.protocol", "one of grpc, http/protobuf" },
        { Head + "  protocol: zipkin\n", 3, "tracing.protocol", "one of grpc, http/protobuf" },

        // Names.
        { Head + "  serviceName: \" \"\n", 3, "tracing.serviceName", "must not be empty; leave it out for 'meshgate'" },
        { Head + "  responseHeader: \"x trace id\"\n", 3, "tracing.responseHeader", "'x trace id' is not a valid header name, e.g. x-trace-id" },
        { Head + "  headers: { \"bad name\": v }\n", 3, "tracing.headers.bad name", "'bad name' is not a valid header name" },
        { Head + "  headers: { x-keys: \"a,b\" }\n", 3, "tracing.headers.x-keys", "the value must not contain a comma" },

        // Keys.
        { Head + "  samplng: 0.1\n", 3, "tracing.samplng", "unknown key 'samplng' (did you mean 'sampling'?)" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidTracing_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Validate_HeaderValueOnTwoLines_NeverRepeatsTheValue()
    {
        var errors = ConfigText.Errors(Head + "  headers: { authorization: \"Bearer s3cret\\r\\nx-evil: 1\" }\n");

        var error = Assert.Single(errors);
        Assert.Equal("tracing.headers.authorization", error.Path);
        Assert.Contains("must be one line", error.Message);
        Assert.DoesNotContain("s3cret", error.ToString());
    }

    [Fact]
    public void Compile_NoTracing_IsOff() =>
        Assert.Null(ConfigText.Snapshot("listeners: [{ name: public, address: 127.0.0.1:8080 }]\n").Tracing);

    [Fact]
    public void Compile_EmptySection_IsGrpcToLocalhostSamplingEverything()
    {
        var tracing = ConfigText.Snapshot(Head.TrimEnd('\n') + " {}\n").Tracing!;

        Assert.Equal(1.0, tracing.Sampling);
        Assert.Equal(OtlpProtocol.Grpc, tracing.Protocol);
        Assert.Equal(new Uri("http://localhost:4317"), tracing.Endpoint);
        Assert.Equal("meshgate", tracing.ServiceName);
        Assert.Null(tracing.Headers);
        Assert.Null(tracing.ResponseHeader);
    }

    [Theory]
    [InlineData("", "http://localhost:4318/v1/traces")]
    [InlineData("  endpoint: http://jaeger:4318\n", "http://jaeger:4318/v1/traces")]
    [InlineData("  endpoint: https://otlp.example.com/\n", "https://otlp.example.com/v1/traces")]
    [InlineData("  endpoint: https://otlp.example.com/custom/traces\n", "https://otlp.example.com/custom/traces")]
    public void Compile_HttpProtobuf_AddsTheTracesPathToABaseUrl(string endpoint, string expected)
    {
        var tracing = ConfigText.Snapshot(Head + "  protocol: http/protobuf\n" + endpoint).Tracing!;

        Assert.Equal(new Uri(expected), tracing.Endpoint);
    }

    [Fact]
    public void Compile_FullSection_KeepsEverySetting()
    {
        var tracing = ConfigText.Snapshot(Head + """
              sampling: 0.01
              endpoint: http://collector:4317
              serviceName: edge-eu
              responseHeader: x-trace-id
              headers: { x-api-key: abc }
            """).Tracing!;

        Assert.Equal(0.01, tracing.Sampling);
        Assert.Equal(new Uri("http://collector:4317"), tracing.Endpoint);
        Assert.Equal("edge-eu", tracing.ServiceName);
        Assert.Equal("x-trace-id", tracing.ResponseHeader);
        Assert.Equal("abc", tracing.Headers!["X-API-KEY"]);
    }
}

using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;

namespace Meshgate.Configuration.Tests.Parsing;

public sealed class ConfigReaderTests
{
    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // Not YAML at all.
        { "routes: [a, b\nclusters: []\n", 2, "", "not valid YAML: the file ends inside a [ ] or { } that is not closed" },
        { "routes: [a, b]]\n", 1, "", "not valid YAML" },
        { "listeners:\n  - name: a\n    address: x\n   bad: indentation\n", 4, "", "not valid YAML" },
        { "logging: {}\n---\nlogging: {}\n", 3, "", "expected one YAML document, found several" },
        { "just a sentence\n", 1, "", "expected a mapping with keys listeners, admin" },

        // Unknown keys at each level, with and without a suggestion.
        { "route: []\n", 1, "route", "unknown key 'route' (did you mean 'routes'?)" },
        { "flavours: []\n", 1, "flavours", "unknown key 'flavours' (known keys: listeners, admin, trustedProxies, routes, clusters, logging, shutdown" },
        { "listeners:\n  - name: a\n    adress: 127.0.0.1:1\n    address: 127.0.0.1:1\n", 3, "listeners[0].adress", "unknown key 'adress' (did you mean 'address'?)" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    limits: { maxBodySize: 1 }\n", 4, "listeners[0].limits.maxBodySize", "unknown key 'maxBodySize'" },
        { "admin:\n  tokn: abc\n", 2, "admin.tokn", "did you mean 'token'?" },
        { "logging: { levl: debug }\n", 1, "logging.levl", "did you mean 'level'?" },
        { "shutdown:\n  drain: 5s\n", 2, "shutdown.drain", "unknown key 'drain' (known keys: drainTimeout)" },
        { "routes:\n  - id: a\n    match: { paths: /a }\n    cluster: c\n", 3, "routes[0].match.paths", "did you mean 'path'?" },
        { "routes:\n  - id: a\n    match: { path: /a }\n    cluster: c\n    transform: {}\n", 5, "routes[0].transform", "did you mean 'transforms'?" },
        { "routes:\n  - id: a\n    match:\n      path: /a\n      headers:\n        - { name: x, exactly: [a] }\n    cluster: c\n", 6, "routes[0].match.headers[0].exactly", "did you mean 'exact'?" },
        { "clusters:\n  - id: a\n    endpoint: [http://a]\n", 3, "clusters[0].endpoint", "did you mean 'endpoints'?" },
        { "clusters:\n  - id: a\n    endpoints: [http://a]\n    healthCheck: { path: /h, intervall: 5s }\n", 4, "clusters[0].healthCheck.intervall", "did you mean 'interval'?" },
        { "clusters:\n  - id: a\n    endpoints:\n      - { url: http://a, wieght: 2 }\n", 4, "clusters[0].endpoints[0].wieght", "did you mean 'weight'?" },

        // Wrong types.
        { "routes:\n  - id: a\n    order: first\n    match: { path: /a }\n    cluster: c\n", 3, "routes[0].order", "expected a whole number, found 'first'" },
        { "routes:\n  - id: a\n    order: 1.5\n    match: { path: /a }\n    cluster: c\n", 3, "routes[0].order", "expected a whole number, found '1.5'" },
        { "admin: [127.0.0.1:9901]\n", 1, "admin", "expected a mapping with keys address, token, tokenEnv, tokenFile; found a list" },
        { "routes:\n  id: a\n", 2, "routes", "expected a list, found a mapping" },
        { "routes: [orders]\n", 1, "routes[0]", "expected a mapping with keys id, order, match, cluster, split" },
        { "trustedProxies: 10.0.0.0/8\n", 1, "trustedProxies", "expected a list, found a scalar '10.0.0.0/8'" },
        { "routes:\n  - id: [a, b]\n    match: { path: /a }\n    cluster: c\n", 2, "routes[0].id", "expected a string, found a list" },
        { "routes:\n  - id: a\n    match: { path: /a }\n    cluster: c\n    transforms: { preserveHost: yes please }\n", 5, "routes[0].transforms.preserveHost", "expected true or false, found 'yes please'" },
        { "routes:\n  - id: a\n    match: { path: /a }\n    cluster: c\n    transforms:\n      requestHeaders: { set: [x-a] }\n", 6, "routes[0].transforms.requestHeaders.set", "expected a mapping, found a list" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    limits: { maxConcurrentConnections: many }\n", 4, "listeners[0].limits.maxConcurrentConnections", "expected a whole number, found 'many'" },

        // Durations, sizes and enums.
        { "shutdown: { drainTimeout: 30 }\n", 1, "shutdown.drainTimeout", "expected a duration with a unit, like 250ms, 5s, 2m or 1h, found '30'" },
        { "shutdown: { drainTimeout: 5 sec }\n", 1, "shutdown.drainTimeout", "found '5 sec'" },
        { "shutdown: { drainTimeout: 1d }\n", 1, "shutdown.drainTimeout", "found '1d'" },
        { "shutdown: { drainTimeout: 1e3ms }\n", 1, "shutdown.drainTimeout", "found '1e3ms'" },
        { "clusters:\n  - id: a\n    endpoints: [http://a]\n    timeouts: { connect: fast }\n", 4, "clusters[0].timeouts.connect", "expected a duration" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    limits: { maxRequestBodySize: 10 megs }\n", 4, "listeners[0].limits.maxRequestBodySize", "expected a size like 1024, 64KiB or 10MiB, found '10 megs'" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    limits: { maxRequestBodySize: -1 }\n", 4, "listeners[0].limits.maxRequestBodySize", "found '-1'" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    limits: { maxRequestBodySize: 1.5MiB }\n", 4, "listeners[0].limits.maxRequestBodySize", "found '1.5MiB'" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    limits: { maxRequestHeadersSize: 64kib }\n", 4, "listeners[0].limits.maxRequestHeadersSize", "found '64kib'" },
        { "clusters:\n  - id: a\n    endpoints: [http://a]\n    loadBalancing: round_robin\n", 4, "clusters[0].loadBalancing", "expected one of round-robin, least-requests, power-of-two-choices, random, consistent-hash, found 'round_robin'" },
        { "clusters:\n  - id: a\n    endpoints: [http://a]\n    httpVersion: 3\n", 4, "clusters[0].httpVersion", "expected one of auto, 1.1, 2, found '3'" },
        { "clusters:\n  - id: a\n    endpoints: [http://a]\n    forwarder: httpclient\n", 4, "clusters[0].forwarder", "expected one of auto, yarp, direct, found 'httpclient'" },
        { "logging: { level: information }\n", 1, "logging.level", "expected one of trace, debug, info, warning, error, critical, none, found 'information'" },
        { "logging: { format: xml }\n", 1, "logging.format", "expected one of json, text, found 'xml'" },
        { "sockets: io_uring\n", 1, "sockets", "expected one of auto, epoll, uring, runtime, found 'io_uring'" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    protocols: [http3]\n", 4, "listeners[0].protocols[0]", "expected one of http1, http2, found 'http3'" },
        { "listeners:\n  - name: a\n    address: 127.0.0.1:1\n    frontEnd: fast\n", 4, "listeners[0].frontEnd", "expected one of auto, kestrel, found 'fast'" },

        // Required keys, reported on the line of the mapping that lacks them.
        { "routes:\n  - match: { path: /a }\n    cluster: c\n", 2, "routes[0].id", "required key 'id' is missing" },
        { "routes:\n  - id: a\n    cluster: c\n", 2, "routes[0].match", "required key 'match' is missing" },
        { "clusters:\n  - endpoints: [http://a]\n", 2, "clusters[0].id", "required key 'id' is missing" },
        { "clusters:\n  - id: a\n    endpoints:\n      - { weight: 2 }\n", 4, "clusters[0].endpoints[0].url", "required key 'url' is missing" },
        { "clusters:\n  - id: a\n    endpoints: [http://a]\n    healthCheck: { interval: 5s }\n", 4, "clusters[0].healthCheck.path", "required key 'path' is missing" },
        { "listeners:\n  - name: a\n", 2, "listeners[0].address", "required key 'address' is missing" },
        { "listeners:\n  - address: 127.0.0.1:1\n", 2, "listeners[0].name", "required key 'name' is missing" },
        { "routes:\n  - id: a\n    match:\n      path: /a\n      headers: [{ exact: [x] }]\n    cluster: c\n", 5, "routes[0].match.headers[0].name", "required key 'name' is missing" },
        { "routes:\n  - id: a\n    match: { path: /a }\n    cluster: c\n    transforms: { replacePrefix: { from: /a } }\n", 5, "routes[0].transforms.replacePrefix.to", "required key 'to' is missing" },

        // A required key written without a value is as missing as one left out.
        { "routes:\n  - id: ~\n    match: { path: /a }\n    cluster: c\n", 2, "routes[0].id", "required key 'id' has no value" },
        { "routes:\n  - id: a\n    match:\n    cluster: c\n", 3, "routes[0].match", "required key 'match' has no value" },

        // Duplicate keys: YamlDotNet rejects them while loading, so they come back as a YAML error on the second key's line.
        { "routes:\n  - id: a\n    match: { path: /a }\n    cluster: b\n    cluster: c\n", 5, "", "not valid YAML: Duplicate key" },
        { "logging: { level: info }\nlogging: { level: debug }\n", 2, "", "not valid YAML: Duplicate key" },
        { "routes:\n  - id: a\n    match: { path: /a }\n    cluster: c\n    transforms:\n      requestHeaders:\n        set:\n          x-a: '1'\n          x-a: '2'\n", 9, "", "not valid YAML: Duplicate key" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Read_InvalidYaml_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Theory]
    [InlineData("")]
    [InlineData("\n\n   \n")]
    [InlineData("# only a comment\n")]
    [InlineData("---\n")]
    [InlineData("~\n")]
    public void Read_EmptyFile_SaysEmpty(string yaml)
    {
        var error = Assert.Single(ConfigText.Errors(yaml));
        Assert.Equal("meshgate.yaml the file is empty", error.ToString());
    }

    [Fact]
    public void Read_CaseDiffersInKey_IsUnknownWithSuggestion()
    {
        var error = Assert.Single(ConfigText.Errors("Routes: []\n"));
        Assert.Equal("meshgate.yaml:1 Routes: unknown key 'Routes' (did you mean 'routes'?)", error.ToString());
    }

    [Fact]
    public void Read_SeveralProblems_ReportsEveryOne()
    {
        const string yaml = """
            listeners:
              - name: public
                adress: 0.0.0.0:8080
            routes:
              - id: a
                order: first
                match: { path: /a }
              - id: b
                match: { path: /b }
                cluster:
            clusters:
              - id: c
                endpoints: [http://a]
                loadBalancing: fastest
            shutdown: { drainTimeout: 10 }
            """;
        var errors = ConfigText.Errors(yaml).Select(e => e.ToString()).ToList();
        Assert.Equal(
        [
            "meshgate.yaml:3 listeners[0].adress: unknown key 'adress' (did you mean 'address'?)",
            "meshgate.yaml:2 listeners[0].address: required key 'address' is missing",
            "meshgate.yaml:6 routes[0].order: expected a whole number, found 'first'",
            "meshgate.yaml:14 clusters[0].loadBalancing: expected one of round-robin, least-requests, power-of-two-choices, random, consistent-hash, found 'fastest'",
            "meshgate.yaml:15 shutdown.drainTimeout: expected a duration with a unit, like 250ms, 5s, 2m or 1h, found '10'",
        ], errors);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("5s", 5_000)]
    [InlineData("1.5s", 1_500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("0.5ms", 0.5)]
    public void Read_Duration_ParsesUnits(string text, double milliseconds)
    {
        var read = ConfigReader.Read($"shutdown: {{ drainTimeout: {text} }}\n");
        Assert.Empty(read.Errors);
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), read.Definition!.Shutdown.DrainTimeout);
    }

    [Theory]
    [InlineData("1024", 1024)]
    [InlineData("512B", 512)]
    [InlineData("64KiB", 64 * 1024)]
    [InlineData("1MiB", 1024 * 1024)]
    [InlineData("1GiB", 1024L * 1024 * 1024)]
    [InlineData("10KB", 10_000)]
    [InlineData("10MB", 10_000_000)]
    [InlineData("\"2 MiB\"", 2 * 1024 * 1024)]
    [InlineData("0", 0)]
    public void Read_Size_ParsesUnits(string text, long bytes)
    {
        var read = ConfigReader.Read($"listeners: [{{ name: a, address: 127.0.0.1:1, limits: {{ maxRequestBodySize: {text} }} }}]\n");
        Assert.Empty(read.Errors);
        Assert.Equal(new ByteSize(bytes), read.Definition!.Listeners[0].Limits.MaxRequestBodySize);
    }

    [Fact]
    public void Read_EndpointScalar_IsShorthandForUrl()
    {
        var read = ConfigReader.Read("""
            clusters:
              - id: a
                endpoints:
                  - http://10.0.0.1:5000
                  - { url: http://10.0.0.2:5000, weight: 3 }
            """);
        Assert.Empty(read.Errors);
        var endpoints = read.Definition!.Clusters[0].Endpoints;
        Assert.Equal(new EndpointDefinition { Url = "http://10.0.0.1:5000", Weight = 1 }, endpoints[0]);
        Assert.Equal(new EndpointDefinition { Url = "http://10.0.0.2:5000", Weight = 3 }, endpoints[1]);
    }

    [Theory]
    [InlineData("round-robin", LoadBalancingAlgorithm.RoundRobin)]
    [InlineData("least-requests", LoadBalancingAlgorithm.LeastRequests)]
    [InlineData("power-of-two-choices", LoadBalancingAlgorithm.PowerOfTwoChoices)]
    [InlineData("random", LoadBalancingAlgorithm.Random)]
    [InlineData("consistent-hash", LoadBalancingAlgorithm.ConsistentHash)]
    [InlineData("Round-Robin", LoadBalancingAlgorithm.RoundRobin)]
    public void Read_LoadBalancingSpelling_BindsEnum(string text, LoadBalancingAlgorithm expected)
    {
        var read = ConfigReader.Read($"clusters: [{{ id: a, endpoints: [http://a], loadBalancing: {text} }}]\n");
        Assert.Empty(read.Errors);
        Assert.Equal(expected, read.Definition!.Clusters[0].LoadBalancing);
    }

    [Theory]
    [InlineData("auto", UpstreamHttpVersion.Auto)]
    [InlineData("1.1", UpstreamHttpVersion.Http11)]
    [InlineData("\"1.1\"", UpstreamHttpVersion.Http11)]
    [InlineData("2", UpstreamHttpVersion.Http2)]
    public void Read_HttpVersionSpelling_BindsEnum(string text, UpstreamHttpVersion expected)
    {
        var read = ConfigReader.Read($"clusters: [{{ id: a, endpoints: [http://a], httpVersion: {text} }}]\n");
        Assert.Empty(read.Errors);
        Assert.Equal(expected, read.Definition!.Clusters[0].HttpVersion);
    }

    [Theory]
    [InlineData("info", LogLevelName.Information)]
    [InlineData("warning", LogLevelName.Warning)]
    [InlineData("none", LogLevelName.None)]
    public void Read_LogLevelSpelling_BindsEnum(string text, LogLevelName expected)
    {
        var read = ConfigReader.Read($"logging: {{ level: {text} }}\n");
        Assert.Empty(read.Errors);
        Assert.Equal(expected, read.Definition!.Logging.Level);
    }

    [Fact]
    public void Read_OptionalKeyNull_KeepsDefault()
    {
        var read = ConfigReader.Read("admin: ~\nshutdown:\n");
        Assert.Empty(read.Errors);
        Assert.Equal("127.0.0.1:9901", read.Definition!.Admin.Address);
        Assert.Equal(TimeSpan.FromSeconds(30), read.Definition.Shutdown.DrainTimeout);
    }

    [Fact]
    public void Read_ValidFile_RecordsLinesOfKeysAndItems()
    {
        var read = ConfigReader.Read("""
            routes:
              - id: a
                match: { path: /a }
                cluster: c
              - id: b
                match: { path: /b }
                cluster: c
            """, "meshgate.yaml");
        Assert.Empty(read.Errors);
        Assert.Equal(5, read.SourceMap.LineOf("routes[1]"));
        Assert.Equal(7, read.SourceMap.LineOf("routes[1].cluster"));
        Assert.Equal(6, read.SourceMap.LineOf("routes[1].match.path"));
        Assert.Equal(5, read.SourceMap.LineOf("routes[1].transforms.stripPrefix"));
    }
}

using Meshgate.Configuration.Compilation;

namespace Meshgate.Configuration.Tests.Validation;

public sealed class TrafficValidatorTests
{
    // Lines 1-8 hold a listener, three clusters and the route's head; the route's own keys start on line 9.
    private const string Head = """
        listeners: [{ name: public, address: 127.0.0.1:8080 }]
        clusters:
          - { id: orders, endpoints: [http://10.0.0.1] }
          - { id: orders-v2, endpoints: [http://10.0.0.2] }
          - { id: shadow, endpoints: [http://10.0.0.3] }
        routes:
          - id: a
            match: { path: /a }

        """;

    private const string Split = "    split: [{ cluster: orders, weight: 90 }, { cluster: orders-v2, weight: 10 }]\n";
    private const string Cluster = "    cluster: orders\n";

    public static TheoryData<string, int?, string, string> Errors => new()
    {
        // cluster or split.
        { Head, 7, "routes[0]", "needs cluster (e.g. cluster: orders) or split" },
        { Head + "    cluster:\n", 7, "routes[0]", "needs cluster (e.g. cluster: orders) or split" },
        { Head + Cluster + Split, 7, "routes[0]", "give either cluster or split, not both" },
        { Head + "    split: []\n", 9, "routes[0].split", "must list at least one cluster" },
        { Head + "    split:\n      - { cluster: orders, weight: 90 }\n      - { cluster: ordrs-v2, weight: 10 }\n", 11, "routes[0].split[1].cluster", "unknown cluster 'ordrs-v2' (did you mean 'orders-v2'?)" },
        { Head + "    split:\n      - { cluster: orders }\n      - { cluster: ORDERS }\n", 11, "routes[0].split[1].cluster", "cluster 'ORDERS' is already in the split (split[0])" },
        { Head + "    split:\n      - { weight: 2 }\n", 10, "routes[0].split[0].cluster", "required key 'cluster' is missing" },
        { Head + "    split:\n      - { cluster: orders, weight: -1 }\n      - { cluster: orders-v2 }\n", 10, "routes[0].split[0].weight", "must be 0..1000000, found -1" },
        { Head + "    split:\n      - { cluster: orders, weight: 2000000 }\n", 10, "routes[0].split[0].weight", "must be 0..1000000, found 2000000" },
        { Head + "    split:\n      - { cluster: orders, weight: 0 }\n      - { cluster: orders-v2, weight: 0 }\n", 9, "routes[0].split", "every weight is 0" },

        // splitBy.
        { Head + Cluster + "    splitBy: { header: x-user }\n", 10, "routes[0].splitBy", "only applies to a route with split" },
        { Head + Split + "    splitBy: { header: x-user, cookie: session }\n", 10, "routes[0].splitBy", "give exactly one of header, cookie (found 2)" },
        { Head + Split + "    splitBy: {}\n", 10, "routes[0].splitBy", "give exactly one of header, cookie (found 0)" },
        { Head + Split + "    splitBy: { header: 'x user' }\n", 10, "routes[0].splitBy.header", "'x user' is not a valid header name" },
        { Head + Split + "    splitBy: { cookie: 'a;b' }\n", 10, "routes[0].splitBy.cookie", "'a;b' is not a valid cookie name" },

        // splitOverride.
        { Head + Split + "    splitOverride: { header: x-canary, values: { always: shadow } }\n", 10, "routes[0].splitOverride.values.always", "'shadow' is not a cluster of the route's split (orders, orders-v2)" },
        { Head + Cluster + "    splitOverride: { header: x-canary, values: { always: orders } }\n", 10, "routes[0].splitOverride", "only applies to a route with split" },
        { Head + Split + "    splitOverride: { header: x-canary, values: {} }\n", 10, "routes[0].splitOverride.values", "must map at least one header value to a cluster" },
        { Head + Split + "    splitOverride: { values: { always: orders-v2 } }\n", 10, "routes[0].splitOverride.header", "required key 'header' is missing" },
        { Head + Split + "    splitOverride: { header: 'x:canary', values: { always: orders-v2 } }\n", 10, "routes[0].splitOverride.header", "'x:canary' is not a valid header name" },

        // mirror.
        { Head + Cluster + "    mirror: { cluster: shadw }\n", 10, "routes[0].mirror.cluster", "unknown cluster 'shadw' (did you mean 'shadow'?)" },
        { Head + Cluster + "    mirror: { percent: 10 }\n", 10, "routes[0].mirror.cluster", "required key 'cluster' is missing" },
        { Head + Cluster + "    mirror: { cluster: orders }\n", 10, "routes[0].mirror.cluster", "'orders' already takes the route's requests" },
        { Head + Split + "    mirror: { cluster: orders-v2 }\n", 10, "routes[0].mirror.cluster", "'orders-v2' already takes the route's requests" },
        { Head + Cluster + "    mirror: { cluster: shadow, percent: 150 }\n", 10, "routes[0].mirror.percent", "must be a percentage 0..100, found 150" },
        { Head + Cluster + "    mirror: { cluster: shadow, percent: -1 }\n", 10, "routes[0].mirror.percent", "must be a percentage 0..100, found -1" },
        { Head + Cluster + "    mirror: { cluster: shadow, percent: ten }\n", 10, "routes[0].mirror.percent", "expected a number, found 'ten'" },
        { Head + Cluster + "    mirror: { cluster: shadow, compareHeaders: [content-type] }\n", 10, "routes[0].mirror.compareHeaders", "only used with compare: true" },
        { Head + Cluster + "    mirror: { cluster: shadow, compare: true, compareHeaders: ['content type'] }\n", 10, "routes[0].mirror.compareHeaders[0]", "'content type' is not a valid header name" },
        { Head + Cluster + "    mirror: { cluster: shadow, maxBody: 32MiB }\n", 10, "routes[0].mirror.maxBody", "must be at most 16MiB" },
        { Head + Cluster + "    mirror: { cluster: shadow, queue: 0 }\n", 10, "routes[0].mirror.queue", "must be 1..100000, found 0" },
        { Head + Cluster + "    mirror: { cluster: shadow, timeout: 0s }\n", 10, "routes[0].mirror.timeout", "must be greater than 0" },

        // faults.
        { Head + Cluster + "    faults: { header: x-fault }\n", 10, "routes[0].faults", "give abort (e.g. { status: 503, percent: 5 }), delay (e.g. { duration: 2s, percent: 10 }) or both" },
        { Head + Cluster + "    faults: { abort: { status: 600 } }\n", 10, "routes[0].faults.abort.status", "must be an HTTP status 200..599, found 600" },
        { Head + Cluster + "    faults: { abort: { status: 101 } }\n", 10, "routes[0].faults.abort.status", "must be an HTTP status 200..599, found 101" },
        { Head + Cluster + "    faults: { abort: { percent: 5 } }\n", 10, "routes[0].faults.abort.status", "required key 'status' is missing" },
        { Head + Cluster + "    faults: { abort: { status: 503, percent: 100.5 } }\n", 10, "routes[0].faults.abort.percent", "must be a percentage 0..100, found 100.5" },
        { Head + Cluster + "    faults: { delay: { duration: 0s } }\n", 10, "routes[0].faults.delay.duration", "must be greater than 0" },
        { Head + Cluster + "    faults: { delay: { duration: 2 } }\n", 10, "routes[0].faults.delay.duration", "expected a duration with a unit" },
        { Head + Cluster + "    faults: { delay: { percent: 5 } }\n", 10, "routes[0].faults.delay.duration", "required key 'duration' is missing" },
        { Head + Cluster + "    faults: { delay: { duration: 1s, percent: -5 } }\n", 10, "routes[0].faults.delay.percent", "must be a percentage 0..100, found -5" },
        { Head + Cluster + "    faults: { abort: { status: 503 }, header: 'x fault' }\n", 10, "routes[0].faults.header", "'x fault' is not a valid header name" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Validate_InvalidTrafficKeys_ReportsPathLineAndMessage(string yaml, int? line, string path, string fragment) =>
        ConfigText.AssertSingleError(yaml, line, path, fragment);

    [Fact]
    public void Compile_SplitMirrorAndFaults_BuildsRoutePolicies()
    {
        var snapshot = ConfigText.Snapshot(Head + """
                split: [{ cluster: orders-v2, weight: 10 }, { cluster: orders, weight: 90 }]
                splitBy: { cookie: session }
                splitOverride: { header: x-canary, values: { always: orders-v2, never: orders } }
                mirror: { cluster: shadow, percent: 12.5, compare: true, compareHeaders: [content-type], maxBody: 1KiB, queue: 7, timeout: 250ms }
                faults: { abort: { status: 503, percent: 5 }, delay: { duration: 2s }, header: x-meshgate-fault }
              - { id: plain, match: { path: /plain }, cluster: orders }
            """);

        // YARP's RouteConfig names the heaviest cluster; the split step moves the other shares.
        Assert.Equal("orders", snapshot.Routes.Single(r => r.RouteId == "a").ClusterId);
        var policy = snapshot.RoutePolicies["a"];
        var split = policy.Split!;
        Assert.Equal(100, split.TotalWeight);
        Assert.Equal("orders-v2", split.ClusterAt(0));
        Assert.Equal("orders-v2", split.ClusterAt(9));
        Assert.Equal("orders", split.ClusterAt(10));
        Assert.Equal("orders", split.ClusterAt(99));
        Assert.Equal(SplitKeySource.Cookie, split.KeySource);
        Assert.Equal("session", split.KeyName);
        Assert.Equal("orders-v2", split.OverrideValues!["ALWAYS"]);

        Assert.Equal(new MirrorPolicy("a", "shadow", 125_000, true, ["content-type"], 1024, 7, TimeSpan.FromMilliseconds(250)) with { CompareHeaders = policy.Mirror!.CompareHeaders }, policy.Mirror);
        Assert.Equal(["content-type"], policy.Mirror.CompareHeaders);
        Assert.Equal(new FaultPolicy("a", 503, 50_000, TimeSpan.FromSeconds(2), 1_000_000, "x-meshgate-fault"), policy.Faults);

        var plain = snapshot.RoutePolicies["plain"];
        Assert.Null(plain.Split);
        Assert.Null(plain.Mirror);
        Assert.Null(plain.Faults);
    }

    [Fact]
    public void Compile_MirrorDefaults_AreSafe()
    {
        var snapshot = ConfigText.Snapshot(Head + Cluster + "    mirror: { cluster: shadow }\n");
        var mirror = snapshot.RoutePolicies["a"].Mirror!;
        Assert.Equal(1_000_000, mirror.PartsPerMillion);
        Assert.False(mirror.Compare);
        Assert.Equal(64 * 1024, mirror.MaxBody);
        Assert.Equal(1000, mirror.Queue);
        Assert.Equal(TimeSpan.FromSeconds(5), mirror.Timeout);
    }
}

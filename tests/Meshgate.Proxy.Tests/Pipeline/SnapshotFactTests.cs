using Meshgate.Configuration;
using Meshgate.Proxy.Pipeline;

namespace Meshgate.Proxy.Tests.Pipeline;

public sealed class SnapshotFactTests
{
    private static ConfigSnapshot Snapshot(string circuitBreaker = "")
    {
        var yaml = "listeners: [{ name: public, address: 127.0.0.1:8080 }]\nroutes: [{ id: r, match: { path: /r }, cluster: orders }]\n"
            + "clusters:\n  - id: orders\n    endpoints: [http://10.0.0.1]\n" + (circuitBreaker.Length > 0 ? $"    circuitBreaker: {circuitBreaker}\n" : "");
        var result = ConfigLoader.Load(yaml, "meshgate.yaml", Path.GetTempPath());
        Assert.True(result.Ok, string.Join("\n", result.Errors));
        return result.Snapshot!;
    }

    [Fact]
    public void Of_SameSnapshot_ComputedOnce()
    {
        var computed = 0;
        var fact = new SnapshotFact<bool>(s => { computed++; return s.ClusterPolicies.Values.Any(p => p.CircuitBreaker is not null); });
        var snapshot = Snapshot();

        Assert.False(fact.Of(snapshot));
        Assert.False(fact.Of(snapshot));
        Assert.Equal(1, computed);
    }

    [Fact]
    public void Of_AfterASwap_ComputedForTheNewSnapshot()
    {
        // A reload that configures the step applies to the next request, and one that removes it again too.
        var fact = new SnapshotFact<bool>(s => s.ClusterPolicies.Values.Any(p => p.CircuitBreaker is not null));
        var before = Snapshot();
        var limited = Snapshot("{ maxConcurrentRequests: 10 }");

        Assert.False(fact.Of(before));
        Assert.True(fact.Of(limited));
        Assert.False(fact.Of(Snapshot()));
    }
}

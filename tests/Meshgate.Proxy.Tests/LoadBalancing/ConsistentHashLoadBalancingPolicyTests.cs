using System.Net;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.ForwardedHeaders;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.LoadBalancing;

public class ConsistentHashLoadBalancingPolicyTests
{
    private readonly ConsistentHashLoadBalancingPolicy _policy = new(new SeededRandomSource(5));

    private readonly DestinationState[] _destinations =
        Enumerable.Range(0, 4).Select(i => TestModels.Destination($"backend-{i}")).ToArray();

    [Fact]
    public void PickDestination_SameHeaderValue_SameDestination()
    {
        var cluster = Cluster("header", "X-User");

        for (var k = 0; k < 200; k++)
        {
            var first = _policy.PickDestination(WithHeader("X-User", $"u{k}"), cluster, _destinations);
            var second = _policy.PickDestination(WithHeader("X-User", $"u{k}"), cluster, _destinations.ToArray());

            Assert.Same(first, second);
        }
    }

    [Fact]
    public void PickDestination_DifferentHeaderValues_SpreadOverAllDestinations()
    {
        var cluster = Cluster("header", "X-User");

        var used = Enumerable.Range(0, 200)
            .Select(k => _policy.PickDestination(WithHeader("X-User", $"u{k}"), cluster, _destinations)!.DestinationId)
            .ToHashSet();

        Assert.Equal(4, used.Count);
    }

    [Fact]
    public void PickDestination_FifthDestinationAdded_MovesAboutOneFifthToNewOne()
    {
        var cluster = Cluster("header", "X-User");
        var withFifth = _destinations.Append(TestModels.Destination("backend-4")).ToArray();
        var moved = 0;

        for (var k = 0; k < 10_000; k++)
        {
            var before = _policy.PickDestination(WithHeader("X-User", $"user-{k}"), cluster, _destinations)!;
            var after = _policy.PickDestination(WithHeader("X-User", $"user-{k}"), cluster, withFifth)!;
            if (!ReferenceEquals(before, after))
            {
                moved++;
                Assert.Equal("backend-4", after.DestinationId);
            }
        }

        Assert.InRange(moved / 10_000.0, 0.10, 0.30);
    }

    [Fact]
    public void PickDestination_HeavierWeight_GetsLargerShareOfKeys()
    {
        var cluster = Cluster("header", "X-User");
        DestinationState[] list = [TestModels.Destination("heavy", weight: 4), TestModels.Destination("light", weight: 1)];

        var heavy = Enumerable.Range(0, 10_000)
            .Count(k => _policy.PickDestination(WithHeader("X-User", $"u{k}"), cluster, list)!.DestinationId == "heavy");

        Assert.InRange(heavy / 10_000.0, 0.75, 0.85);
    }

    [Fact]
    public void PickDestination_CookieKey_StickyPerCookieValue()
    {
        var cluster = Cluster("cookie", "session");
        var picks = Enumerable.Range(0, 3).Select(_ =>
        {
            var context = new DefaultHttpContext();
            context.Request.Headers.Cookie = "other=1; session=abc123";
            return _policy.PickDestination(context, cluster, _destinations);
        }).ToArray();

        Assert.NotNull(picks[0]);
        Assert.All(picks, p => Assert.Same(picks[0], p));
    }

    [Fact]
    public void PickDestination_ClientIpFeature_WinsOverSocketAddress()
    {
        var cluster = Cluster("client-ip", null);
        DestinationState? Pick(string socket, string? client)
        {
            var context = new DefaultHttpContext();
            context.Connection.RemoteIpAddress = IPAddress.Parse(socket);
            if (client is not null)
            {
                context.Features.Set<IClientAddressFeature>(new ClientAddressFeature(IPAddress.Parse(client)));
            }

            return _policy.PickDestination(context, cluster, _destinations);
        }

        // Behind one load balancer every socket address is the same; the feature's address must decide.
        var byClient = Enumerable.Range(1, 50).Select(i => Pick("10.0.0.1", $"203.0.113.{i}")).Distinct().Count();
        Assert.True(byClient > 1);
        for (var i = 1; i <= 50; i++)
        {
            Assert.Same(Pick($"10.0.0.{i}", "198.51.100.7"), Pick("10.0.0.1", "198.51.100.7"));
            Assert.Same(Pick($"192.0.2.{i}", null), Pick($"::ffff:192.0.2.{i}", null));
        }
    }

    [Fact]
    public void PickDestination_HeaderMissing_FallsBackToRandomOverAll()
    {
        var cluster = Cluster("header", "X-User");

        var used = Enumerable.Range(0, 400)
            .Select(_ => _policy.PickDestination(new DefaultHttpContext(), cluster, _destinations)!.DestinationId)
            .ToHashSet();

        Assert.Equal(4, used.Count);
    }

    [Fact]
    public void PickDestination_NoHashSettings_FallsBackToRandom()
    {
        var cluster = TestModels.Cluster();

        var used = Enumerable.Range(0, 400)
            .Select(_ => _policy.PickDestination(WithHeader("X-User", "same"), cluster, _destinations)!.DestinationId)
            .ToHashSet();

        Assert.Equal(4, used.Count);
    }

    private static ClusterState Cluster(string source, string? name)
    {
        var metadata = new Dictionary<string, string> { [MetadataKeys.HashSource] = source };
        if (name is not null)
        {
            metadata[MetadataKeys.HashName] = name;
        }

        return TestModels.Cluster(metadata);
    }

    private static DefaultHttpContext WithHeader(string name, string value)
    {
        var context = new DefaultHttpContext();
        context.Request.Headers[name] = value;
        return context;
    }

    private sealed class ClientAddressFeature(IPAddress address) : IClientAddressFeature
    {
        public IPAddress? ClientAddress { get; } = address;
    }
}

using System.Diagnostics.CodeAnalysis;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Mirroring;
using Meshgate.Proxy.Tests.TestSupport;
using Meshgate.Proxy.TrafficSplit;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.TrafficSplit;

public sealed class TrafficSplitMiddlewareTests
{
    private sealed class NoProxyState : IProxyStateLookup
    {
        public bool TryGetRoute(string id, [NotNullWhen(true)] out RouteModel? route) => throw new InvalidOperationException("a plain route must not look anything up");
        public IEnumerable<RouteModel> GetRoutes() => throw new InvalidOperationException();
        public bool TryGetCluster(string id, [NotNullWhen(true)] out ClusterState? cluster) => throw new InvalidOperationException("a plain route must not look anything up");
        public IEnumerable<ClusterState> GetClusters() => throw new InvalidOperationException();
    }

    [Fact]
    public void Invoke_RouteWithoutSplitOrMirror_ReturnsNextsTaskItselfAndDrawsNothing()
    {
        var next = new TaskCompletionSource().Task;
        var random = new ScriptedRandomSource();
        var context = new DefaultHttpContext();
        context.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(new object()), "plain"));
        var split = new TrafficSplitMiddleware(_ => next, new NoProxyState(), random);
        var statistics = new MirrorStatistics(TestMeters.Factory);
        var mirror = new MirrorMiddleware(_ => next, new NoProxyState(), random,
            new MirrorQueue(statistics, TimeProvider.System, new RecordingLogger<MirrorQueue>()), statistics,
            new MirrorComparer(statistics, TimeProvider.System, new RecordingLogger<MirrorComparer>()));

        Assert.Same(next, split.InvokeAsync(context));
        Assert.Same(next, mirror.InvokeAsync(context));
        Assert.Equal(0, random.Calls);
    }

    [Fact]
    public void Invoke_MirrorNotSampled_ReturnsNextsTaskItself()
    {
        var next = new TaskCompletionSource().Task;
        var context = new DefaultHttpContext();
        context.SetEndpoint(new Endpoint(null, new EndpointMetadataCollection(new MirrorPolicy("r", "shadow", 100_000, false, [], 1024, 10, TimeSpan.FromSeconds(1))), "mirrored"));
        var statistics = new MirrorStatistics(TestMeters.Factory);
        var mirror = new MirrorMiddleware(_ => next, new NoProxyState(), new ScriptedRandomSource(100_000), // 10%: draws 0..99,999 are copied
            new MirrorQueue(statistics, TimeProvider.System, new RecordingLogger<MirrorQueue>()), statistics,
            new MirrorComparer(statistics, TimeProvider.System, new RecordingLogger<MirrorComparer>()));

        Assert.Same(next, mirror.InvokeAsync(context));
        Assert.Null(statistics.Find("r"));
    }
}

using Meshgate.Configuration;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Pipeline;
using Meshgate.Proxy.Resilience.OutlierDetection;
using Microsoft.Extensions.DependencyInjection;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.Resilience.OutlierDetection;

public sealed class OutlierDetectionServiceCollectionExtensionsTests
{
    [Fact]
    public void AddMeshgateOutlierDetection_CalledTwice_OneDetectorServesAsPolicyListenerAndState()
    {
        var result = ConfigLoader.Load("listeners: [{ name: public, address: 127.0.0.1:8080 }]\n", "meshgate.yaml", TestKit.TempDirectory.Create());
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(new SnapshotAccessor(result.Snapshot!));
        services.AddReverseProxy().AddMeshgateOutlierDetection().AddMeshgateOutlierDetection();
        using var provider = services.BuildServiceProvider();

        var policy = Assert.Single(provider.GetServices<IPassiveHealthCheckPolicy>(), p => p.Name == PolicyNames.OutlierDetection);
        Assert.Single(provider.GetServices<IClusterChangeListener>(), l => l is OutlierDetector);
        Assert.Same(policy, provider.GetRequiredService<IOutlierDetectionState>());
    }
}

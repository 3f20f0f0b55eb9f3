using System.Globalization;
using Meshgate.Configuration.Compilation;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.TestSupport;

/// <summary>Real YARP state objects for policy unit tests.</summary>
internal static class TestModels
{
    public static DestinationState Destination(string id, int? weight = null, int concurrentRequests = 0)
    {
        var metadata = weight is null
            ? null
            : new Dictionary<string, string> { [MetadataKeys.Weight] = weight.Value.ToString(CultureInfo.InvariantCulture) };
        var destination = new DestinationState(id, new DestinationModel(new DestinationConfig { Address = $"http://{id}.example/", Metadata = metadata }));
        destination.ConcurrentRequestCount = concurrentRequests;
        return destination;
    }

    public static ClusterState Cluster(IReadOnlyDictionary<string, string>? metadata = null, HealthCheckConfig? healthCheck = null)
    {
        var config = new ClusterConfig { ClusterId = "cluster", Metadata = metadata, HealthCheck = healthCheck };
        return new ClusterState("cluster", new ClusterModel(config, new HttpMessageInvoker(new SocketsHttpHandler())));
    }
}

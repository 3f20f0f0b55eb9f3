using System.Net;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Health;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Health;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.Health;

public class ThresholdActiveHealthPolicyTests
{
    private readonly RecordingHealthUpdater _updater = new();
    private readonly ThresholdActiveHealthPolicy _policy;
    private readonly DestinationState _destination = TestModels.Destination("a");

    public ThresholdActiveHealthPolicyTests()
    {
        _policy = new ThresholdActiveHealthPolicy(_updater, NullLogger<ThresholdActiveHealthPolicy>.Instance);
    }

    [Theory]
    [InlineData(HttpStatusCode.OK, DestinationHealth.Healthy)]
    [InlineData(HttpStatusCode.NoContent, DestinationHealth.Healthy)]
    [InlineData(HttpStatusCode.Found, DestinationHealth.Healthy)]
    [InlineData(HttpStatusCode.NotFound, DestinationHealth.Unhealthy)]
    [InlineData(HttpStatusCode.ServiceUnavailable, DestinationHealth.Unhealthy)]
    public void ProbingCompleted_UnknownDestination_TakesFirstResult(HttpStatusCode status, DestinationHealth expected)
    {
        Probe(TestModels.Cluster(), Response(status));

        Assert.Equal(expected, _destination.Health.Active);
    }

    [Fact]
    public void ProbingCompleted_HealthyWithDefaultThreshold_UnhealthyOnThirdFailure()
    {
        var cluster = TestModels.Cluster();
        Probe(cluster, Response(HttpStatusCode.OK));

        Probe(cluster, Response(HttpStatusCode.ServiceUnavailable));
        Probe(cluster, null, new HttpRequestException("refused"));
        Assert.Equal(DestinationHealth.Healthy, _destination.Health.Active);

        Probe(cluster, null, new OperationCanceledException("timeout"));
        Assert.Equal(DestinationHealth.Unhealthy, _destination.Health.Active);
    }

    [Fact]
    public void ProbingCompleted_SuccessBetweenFailures_ResetsCount()
    {
        var cluster = Cluster(unhealthy: 2, healthy: 1);
        Probe(cluster, Response(HttpStatusCode.OK));

        Probe(cluster, Response(HttpStatusCode.InternalServerError));
        Probe(cluster, Response(HttpStatusCode.OK));
        Probe(cluster, Response(HttpStatusCode.InternalServerError));

        Assert.Equal(DestinationHealth.Healthy, _destination.Health.Active);
    }

    [Fact]
    public void ProbingCompleted_UnhealthyWithHealthyThresholdThree_HealthyOnThirdSuccess()
    {
        var cluster = Cluster(unhealthy: 1, healthy: 3);
        Probe(cluster, Response(HttpStatusCode.BadGateway));
        Assert.Equal(DestinationHealth.Unhealthy, _destination.Health.Active);

        Probe(cluster, Response(HttpStatusCode.OK));
        Probe(cluster, Response(HttpStatusCode.OK));
        Assert.Equal(DestinationHealth.Unhealthy, _destination.Health.Active);

        Probe(cluster, Response(HttpStatusCode.OK));
        Assert.Equal(DestinationHealth.Healthy, _destination.Health.Active);
    }

    [Fact]
    public void ProbingCompleted_SeveralDestinations_ReportsEachInOneCall()
    {
        var other = TestModels.Destination("b");

        _policy.ProbingCompleted(TestModels.Cluster(),
        [
            new DestinationProbingResult(_destination, Response(HttpStatusCode.OK), null),
            new DestinationProbingResult(other, null, new HttpRequestException("refused")),
        ]);

        Assert.Equal([("a", DestinationHealth.Healthy), ("b", DestinationHealth.Unhealthy)], _updater.ActiveCalls);
    }

    [Fact]
    public void IsSuccess_ResponseWithException_IsFailure()
    {
        var result = new DestinationProbingResult(_destination, Response(HttpStatusCode.OK), new TaskCanceledException());

        Assert.False(ThresholdActiveHealthPolicy.IsSuccess(result));
    }

    private void Probe(ClusterState cluster, HttpResponseMessage? response, Exception? exception = null) =>
        _policy.ProbingCompleted(cluster, [new DestinationProbingResult(_destination, response, exception)]);

    private static HttpResponseMessage Response(HttpStatusCode status) => new(status);

    private static ClusterState Cluster(int unhealthy, int healthy) => TestModels.Cluster(new Dictionary<string, string>
    {
        [MetadataKeys.UnhealthyThreshold] = unhealthy.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [MetadataKeys.HealthyThreshold] = healthy.ToString(System.Globalization.CultureInfo.InvariantCulture),
    });
}

using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Health;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.Health;

public class ConsecutiveFailuresPassiveHealthPolicyTests
{
    private readonly RecordingHealthUpdater _updater = new();
    private readonly ConsecutiveFailuresPassiveHealthPolicy _policy;
    private readonly DestinationState _destination = TestModels.Destination("a");

    public ConsecutiveFailuresPassiveHealthPolicyTests()
    {
        _policy = new ConsecutiveFailuresPassiveHealthPolicy(_updater, NullLogger<ConsecutiveFailuresPassiveHealthPolicy>.Instance);
    }

    [Fact]
    public void RequestProxied_DefaultThresholdFailures_EjectsForDefaultPeriod()
    {
        var cluster = TestModels.Cluster();

        for (var i = 0; i < 4; i++)
        {
            _policy.RequestProxied(WithStatus(503), cluster, _destination);
        }

        Assert.Empty(_updater.PassiveCalls);
        _policy.RequestProxied(WithStatus(500), cluster, _destination);
        Assert.Equal([("a", DestinationHealth.Unhealthy, TimeSpan.FromSeconds(30))], _updater.PassiveCalls);
    }

    [Fact]
    public void RequestProxied_ConfiguredThresholdAndPeriod_UsesThem()
    {
        var cluster = Cluster(failures: 2, reactivation: TimeSpan.FromMinutes(2));

        _policy.RequestProxied(WithError(ForwarderError.Request), cluster, _destination);
        _policy.RequestProxied(WithError(ForwarderError.RequestTimedOut), cluster, _destination);

        Assert.Equal([("a", DestinationHealth.Unhealthy, TimeSpan.FromMinutes(2))], _updater.PassiveCalls);
    }

    [Fact]
    public void RequestProxied_SuccessBetweenFailures_ResetsCount()
    {
        var cluster = Cluster(failures: 2, reactivation: TimeSpan.FromSeconds(5));

        _policy.RequestProxied(WithStatus(502), cluster, _destination);
        _policy.RequestProxied(WithStatus(404), cluster, _destination);
        _policy.RequestProxied(WithStatus(502), cluster, _destination);

        Assert.Empty(_updater.PassiveCalls);
    }

    [Fact]
    public void RequestProxied_ClientCanceled_NeitherCountsNorResets()
    {
        var cluster = Cluster(failures: 2, reactivation: TimeSpan.FromSeconds(5));

        _policy.RequestProxied(WithStatus(500), cluster, _destination);
        _policy.RequestProxied(WithError(ForwarderError.RequestCanceled), cluster, _destination);
        _policy.RequestProxied(WithError(ForwarderError.ResponseBodyClient), cluster, _destination);
        Assert.Empty(_updater.PassiveCalls);

        _policy.RequestProxied(WithStatus(500), cluster, _destination);
        Assert.Single(_updater.PassiveCalls);
    }

    [Fact]
    public void RequestProxied_AfterEjection_NeedsFullCountAgain()
    {
        var cluster = Cluster(failures: 2, reactivation: TimeSpan.FromSeconds(5));

        for (var i = 0; i < 3; i++)
        {
            _policy.RequestProxied(WithStatus(500), cluster, _destination);
        }

        Assert.Single(_updater.PassiveCalls);
    }

    [Fact]
    public void RequestProxied_FailuresOnDifferentDestinations_CountedSeparately()
    {
        var cluster = Cluster(failures: 2, reactivation: TimeSpan.FromSeconds(5));
        var other = TestModels.Destination("b");

        _policy.RequestProxied(WithStatus(500), cluster, _destination);
        _policy.RequestProxied(WithStatus(500), cluster, other);

        Assert.Empty(_updater.PassiveCalls);
    }

    private static DefaultHttpContext WithStatus(int status)
    {
        var context = new DefaultHttpContext();
        context.Response.StatusCode = status;
        return context;
    }

    private static DefaultHttpContext WithError(ForwarderError error)
    {
        var context = new DefaultHttpContext();
        context.Response.StatusCode = StatusCodes.Status502BadGateway;
        context.Features.Set<IForwarderErrorFeature>(new ErrorFeature(error));
        return context;
    }

    private static ClusterState Cluster(int failures, TimeSpan reactivation) => TestModels.Cluster(
        new Dictionary<string, string> { [MetadataKeys.PassiveConsecutiveFailures] = failures.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        new HealthCheckConfig { Passive = new PassiveHealthCheckConfig { Enabled = true, Policy = PolicyNames.PassiveHealth, ReactivationPeriod = reactivation } });

    private sealed class ErrorFeature(ForwarderError error) : IForwarderErrorFeature
    {
        public ForwarderError Error { get; } = error;

        public Exception? Exception => null;
    }
}

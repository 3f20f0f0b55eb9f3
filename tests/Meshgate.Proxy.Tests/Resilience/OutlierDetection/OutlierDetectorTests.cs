using System.Diagnostics.Metrics;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Resilience.OutlierDetection;
using Meshgate.Proxy.Tests.TestSupport;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.Tests.Resilience.OutlierDetection;

public sealed class OutlierDetectorTests : IDisposable
{
    private static readonly TimeSpan Base = TimeSpan.FromSeconds(30);

    private readonly RecordingHealthUpdater _updater = new();
    private readonly ManualClock _clock = new();
    private readonly ServiceProvider _metricsServices = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly MeterListener _listener = new();
    private readonly List<(string Instrument, string Reason)> _measurements = [];
    private OutlierDetectionPolicy _settings = new(3, null, TimeSpan.FromSeconds(10), Base, TimeSpan.FromSeconds(100), 100, null);
    private readonly OutlierDetector _detector;
    private readonly ClusterState _cluster = TestModels.Cluster();

    public OutlierDetectorTests()
    {
        var meterFactory = _metricsServices.GetRequiredService<IMeterFactory>();
        _detector = new OutlierDetector(_updater, _ => _settings, _clock, new OutlierDetectionMetrics(meterFactory), NullLogger<OutlierDetector>.Instance);
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            // Only this test's factory: tests running in parallel emit on their own meters of the same name.
            if (instrument.Meter.Scope == meterFactory && instrument.Meter.Name == "Meshgate" && instrument.Name.StartsWith("meshgate.outlier_detection.", StringComparison.Ordinal)) listener.EnableMeasurementEvents(instrument);
        };
        _listener.SetMeasurementEventCallback<long>((instrument, _, tags, _) =>
        {
            foreach (var tag in tags)
            {
                if (tag.Key == "reason") _measurements.Add((instrument.Name, (string)tag.Value!));
            }
        });
        _listener.Start();
    }

    public void Dispose()
    {
        _listener.Dispose();
        _detector.Dispose();
        _metricsServices.Dispose();
    }

    private DestinationState Endpoint(string id)
    {
        var destination = TestModels.Destination(id);
        _cluster.Destinations[id] = destination;
        return destination;
    }

    private void Proxied(DestinationState destination, int status, int times = 1)
    {
        for (var i = 0; i < times; i++) _detector.RequestProxied(WithStatus(status), _cluster, destination);
    }

    /// <summary>What YARP's updater does when the reactivation period is over.</summary>
    private static void Reactivate(DestinationState destination) => destination.Health.Passive = DestinationHealth.Unknown;

    [Fact]
    public void RequestProxied_Consecutive5xxReachThreshold_EjectsForBaseTime()
    {
        var a = Endpoint("a");
        Endpoint("b");

        Proxied(a, 500, 2);
        Assert.Empty(_updater.PassiveCalls);
        Proxied(a, 503);

        Assert.Equal([("a", DestinationHealth.Unhealthy, Base)], _updater.PassiveCalls);
        Assert.Equal([("meshgate.outlier_detection.ejections", OutlierDetector.Consecutive5xxReason)], _measurements);
        Assert.Equal(new EjectionView(_clock.GetUtcNow() + Base, 1, OutlierDetector.Consecutive5xxReason), _detector.DescribeEjection(_cluster, a));
    }

    [Fact]
    public void RequestProxied_SuccessBetween5xx_ResetsStreak()
    {
        var a = Endpoint("a");

        Proxied(a, 500, 2);
        Proxied(a, 404);
        Proxied(a, 500, 2);

        Assert.Empty(_updater.PassiveCalls);
    }

    [Fact]
    public void RequestProxied_ClientCancelled_NeitherCountsNorResets()
    {
        var a = Endpoint("a");
        Endpoint("b");

        Proxied(a, 500, 2);
        _detector.RequestProxied(WithError(ForwarderError.RequestCanceled), _cluster, a);
        _detector.RequestProxied(WithError(ForwarderError.ResponseBodyClient), _cluster, a);
        Assert.Empty(_updater.PassiveCalls);
        Proxied(a, 500);

        Assert.Single(_updater.PassiveCalls);
    }

    [Fact]
    public void RequestProxied_ConsecutiveGatewayErrors_EjectBefore5xxThreshold()
    {
        _settings = _settings with { Consecutive5xx = 10, ConsecutiveGatewayErrors = 3 };
        var a = Endpoint("a");
        Endpoint("b");

        // A plain 500 is a 5xx but no gateway error: it breaks the gateway streak.
        _detector.RequestProxied(WithError(ForwarderError.Request), _cluster, a);
        Proxied(a, 502);
        Proxied(a, 500);
        Assert.Empty(_updater.PassiveCalls);

        _detector.RequestProxied(WithError(ForwarderError.RequestTimedOut), _cluster, a);
        Proxied(a, 504);
        Proxied(a, 503);

        Assert.Equal([("a", DestinationHealth.Unhealthy, Base)], _updater.PassiveCalls);
        Assert.Equal(OutlierDetector.ConsecutiveGatewayErrorsReason, _detector.DescribeEjection(_cluster, a)!.LastReason);
    }

    [Theory]
    [InlineData(200, "Success")]
    [InlineData(404, "Success")]
    [InlineData(500, "ServerError")]
    [InlineData(501, "ServerError")]
    [InlineData(502, "GatewayError")]
    [InlineData(503, "GatewayError")]
    [InlineData(504, "GatewayError")]
    public void Classify_Status_GivesOutcome(int status, string outcome) =>
        Assert.Equal(outcome, UpstreamOutcomes.Classify(WithStatus(status)).ToString());

    [Theory]
    [InlineData(ForwarderError.Request, "GatewayError")]
    [InlineData(ForwarderError.RequestTimedOut, "GatewayError")]
    [InlineData(ForwarderError.ResponseHeaders, "GatewayError")]
    [InlineData(ForwarderError.ResponseBodyDestination, "GatewayError")]
    [InlineData(ForwarderError.RequestCanceled, "Ignored")]
    [InlineData(ForwarderError.RequestBodyClient, "Ignored")]
    [InlineData(ForwarderError.ResponseBodyClient, "Ignored")]
    public void Classify_ForwarderError_GivesOutcome(ForwarderError error, string outcome) =>
        Assert.Equal(outcome, UpstreamOutcomes.Classify(WithError(error)).ToString());

    [Fact]
    public void RequestProxied_EjectedAgain_EjectionTimeGrowsWithCountUpToMax()
    {
        var a = Endpoint("a");
        Endpoint("b");

        Proxied(a, 500, 3);
        Reactivate(a);
        _detector.RunInterval(_cluster);
        Proxied(a, 500, 3);
        Reactivate(a);
        _detector.RunInterval(_cluster);
        Proxied(a, 500, 3);
        Reactivate(a);
        _detector.RunInterval(_cluster);
        Proxied(a, 500, 3);

        Assert.Equal([Base, 2 * Base, 3 * Base, TimeSpan.FromSeconds(100)], _updater.PassiveCalls.Select(c => c.ReactivationPeriod));
        Assert.Equal(4, _detector.DescribeEjection(_cluster, a)!.Ejections);
    }

    [Fact]
    public void RunInterval_EndpointInServiceForIntervals_MultiplierDecays()
    {
        var a = Endpoint("a");
        Endpoint("b");
        Proxied(a, 500, 3);
        Reactivate(a);
        _detector.RunInterval(_cluster);
        Proxied(a, 500, 3);
        Reactivate(a);
        _detector.RunInterval(_cluster);
        Assert.Equal(new EjectionView(null, 2, OutlierDetector.Consecutive5xxReason), _detector.DescribeEjection(_cluster, a));

        // Less than an interval back in service: no decay yet; then one step per interval.
        _clock.Advance(TimeSpan.FromSeconds(5));
        _detector.RunInterval(_cluster);
        Assert.Equal(2, _detector.DescribeEjection(_cluster, a)!.Ejections);
        _clock.Advance(TimeSpan.FromSeconds(5));
        _detector.RunInterval(_cluster);
        Assert.Equal(1, _detector.DescribeEjection(_cluster, a)!.Ejections);
        _clock.Advance(TimeSpan.FromSeconds(10));
        _detector.RunInterval(_cluster);
        Assert.Null(_detector.DescribeEjection(_cluster, a));

        Proxied(a, 500, 3);
        Assert.Equal(Base, _updater.PassiveCalls[^1].ReactivationPeriod);
    }

    [Fact]
    public void RequestProxied_MaxEjectionPercentReached_KeepsTheRestServing()
    {
        _settings = _settings with { MaxEjectionPercent = 50 };
        var endpoints = new[] { Endpoint("a"), Endpoint("b"), Endpoint("c"), Endpoint("d") };

        foreach (var endpoint in endpoints) Proxied(endpoint, 500, 3);

        Assert.Equal(["a", "b"], _updater.PassiveCalls.Select(c => c.DestinationId));
        Assert.Equal(2, endpoints.Count(e => e.Health.Passive == DestinationHealth.Unhealthy));
        Assert.Equal(2, _measurements.Count(m => m.Instrument == "meshgate.outlier_detection.ejections_prevented"));

        // Once one is back, the next failing endpoint may take its place.
        Reactivate(endpoints[0]);
        Proxied(endpoints[2], 500, 3);
        Assert.Equal(["a", "b", "c"], _updater.PassiveCalls.Select(c => c.DestinationId));
    }

    [Fact]
    public void RequestProxied_PercentAllowsNoneOfTwoEndpoints_NeverEjects()
    {
        _settings = _settings with { MaxEjectionPercent = 49 };
        var a = Endpoint("a");
        Endpoint("b");

        Proxied(a, 500, 6);

        Assert.Empty(_updater.PassiveCalls);
    }

    [Fact]
    public void RunInterval_OneEndpointFailingHalf_EjectedBySuccessRate()
    {
        _settings = _settings with { Consecutive5xx = 1000, SuccessRate = new SuccessRatePolicy(MinimumHosts: 5, RequestVolume: 20, StdevFactor: 1.9) };
        var endpoints = new[] { Endpoint("a"), Endpoint("b"), Endpoint("c"), Endpoint("d"), Endpoint("e") };
        for (var i = 0; i < 20; i++)
        {
            Proxied(endpoints[0], i % 2 == 0 ? 200 : 500);
            foreach (var healthy in endpoints[1..]) Proxied(healthy, 200);
        }
        Assert.Empty(_updater.PassiveCalls);

        _detector.RunInterval(_cluster);

        Assert.Equal([("a", DestinationHealth.Unhealthy, Base)], _updater.PassiveCalls);
        Assert.Equal(OutlierDetector.SuccessRateReason, _detector.DescribeEjection(_cluster, endpoints[0])!.LastReason);

        // Counts start afresh each interval: the next interval has no requests, so nothing more happens.
        _detector.RunInterval(_cluster);
        Assert.Single(_updater.PassiveCalls);
    }

    [Fact]
    public void RunInterval_TooFewRequestsOrHosts_NoSuccessRateEjection()
    {
        _settings = _settings with { Consecutive5xx = 1000, SuccessRate = new SuccessRatePolicy(MinimumHosts: 5, RequestVolume: 20, StdevFactor: 1.9) };
        var endpoints = new[] { Endpoint("a"), Endpoint("b"), Endpoint("c"), Endpoint("d"), Endpoint("e") };

        // Only four endpoints reach the request volume: fewer than minimumHosts are judged.
        for (var i = 0; i < 20; i++)
        {
            Proxied(endpoints[0], i % 2 == 0 ? 200 : 500);
            foreach (var healthy in endpoints[1..4]) Proxied(healthy, 200);
            if (i < 19) Proxied(endpoints[4], 200);
        }
        _detector.RunInterval(_cluster);

        Assert.Empty(_updater.PassiveCalls);
    }

    [Fact]
    public void RunInterval_ThreeHostsWithDefaultFactor_CannotFlagOneOutlier()
    {
        // With n endpoints one outlier is at most sqrt(n - 1) standard deviations below the mean (population
        // deviation): below 1.9 for n = 3 or 4, so success-rate ejection needs 5 endpoints or a lower factor.
        _settings = _settings with { Consecutive5xx = 1000, SuccessRate = new SuccessRatePolicy(MinimumHosts: 3, RequestVolume: 10, StdevFactor: 1.9) };
        var endpoints = new[] { Endpoint("a"), Endpoint("b"), Endpoint("c") };
        for (var i = 0; i < 10; i++)
        {
            Proxied(endpoints[0], 500);
            Proxied(endpoints[1], 200);
            Proxied(endpoints[2], 200);
        }
        _detector.RunInterval(_cluster);
        Assert.Empty(_updater.PassiveCalls);

        _settings = _settings with { SuccessRate = _settings.SuccessRate! with { StdevFactor = 1.0 } };
        for (var i = 0; i < 10; i++)
        {
            Proxied(endpoints[0], 500);
            Proxied(endpoints[1], 200);
            Proxied(endpoints[2], 200);
        }
        _detector.RunInterval(_cluster);
        Assert.Equal(["a"], _updater.PassiveCalls.Select(c => c.DestinationId));
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

    private sealed class ErrorFeature(ForwarderError error) : IForwarderErrorFeature
    {
        public ForwarderError Error { get; } = error;

        public Exception? Exception => null;
    }
}

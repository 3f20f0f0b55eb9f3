using System.Net.Security;
using Meshgate.Configuration;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Upstream;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Tests.Upstream;

public sealed class UpstreamTlsPolicyTests
{
    private sealed class Lines : ILogger
    {
        public List<(int Id, string Text)> Logged { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Logged.Add((eventId.Id, formatter(state, exception)));
    }

    [Fact]
    public void MeshCluster_WithoutAWorkloadIdentity_RefusesEveryCertificate_AndSaysWhy()
    {
        var logger = new Lines();
        var cluster = new ClusterPolicy("mesh-orders", TimeSpan.FromSeconds(5), null, null) { Mesh = new MeshClusterPolicy("orders", "default"), InsecureSkipVerify = true };

        var policy = UpstreamTlsPolicy.Create(cluster, identity: null, TimeProvider.System, logger);

        // Fail closed, whatever else the cluster says: no identity, no handshake.
        Assert.False(policy.Validation(new object(), null, null, SslPolicyErrors.None));
        Assert.Null(policy.ClientCertificateSelection);
        Assert.Contains(logger.Logged, l => l.Id == Common.EventIds.MeshDiscovery + 12 && l.Text.Contains("has no workload identity"));
    }

    [Theory]
    [InlineData(SslPolicyErrors.None, true)]
    [InlineData(SslPolicyErrors.RemoteCertificateChainErrors, false)]
    [InlineData(SslPolicyErrors.RemoteCertificateNameMismatch, false)]
    public void SystemTrust_FollowsThePlatformsVerdict_AndLogsARefusal(SslPolicyErrors errors, bool accepted)
    {
        var logger = new Lines();
        var policy = UpstreamTlsPolicy.Create(new ClusterPolicy("api", TimeSpan.FromSeconds(5), null, null), null, TimeProvider.System, logger);

        Assert.Equal(accepted, policy.Validation(new object(), null, null, errors));
        Assert.Equal(accepted ? 0 : 1, logger.Logged.Count(l => l.Id == Common.EventIds.Http1Forwarder + 50 && l.Text.Contains("cluster api refused")));
    }

    [Fact]
    public void InsecureSkipVerify_AcceptsAnything_ButStillPresentsTheClientCertificate()
    {
        using var ca = new TestKit.TestCertificates(TestKit.TempDirectory.Create());
        var (client, _, _) = ca.Issue("gw", server: false);
        var policy = UpstreamTlsPolicy.Create(new ClusterPolicy("api", TimeSpan.FromSeconds(5), null, client) { InsecureSkipVerify = true }, null, TimeProvider.System, new Lines());
        var options = new SslClientAuthenticationOptions();

        policy.ApplyTo(options);

        Assert.True(options.RemoteCertificateValidationCallback!(new object(), null, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.Same(client, Assert.Single(options.ClientCertificates!));
        Assert.Same(client, options.LocalCertificateSelectionCallback!(new object(), "x", [], null, []));
    }

    [Fact]
    public void TrustedBy_SaysWhyACertificateIsRefused()
    {
        using var ca = new TestKit.TestCertificates(TestKit.TempDirectory.Create());
        using var other = new TestKit.TestCertificates(TestKit.TempDirectory.Create(), "Other CA");
        var (leaf, _, _) = ca.Issue("upstream.test");
        var (expired, _, _) = ca.Issue("old.test", notAfter: DateTimeOffset.UtcNow.AddHours(-1));
        var now = DateTimeOffset.UtcNow;

        Assert.Null(UpstreamTlsPolicy.TrustedBy([ca.Ca], leaf, SslPolicyErrors.RemoteCertificateChainErrors, now));
        Assert.Contains("does not chain to tls.ca", UpstreamTlsPolicy.TrustedBy([other.Ca], leaf, SslPolicyErrors.None, now));
        Assert.Contains("or is expired", UpstreamTlsPolicy.TrustedBy([ca.Ca], expired, SslPolicyErrors.None, now));
        Assert.Contains("not for the host name", UpstreamTlsPolicy.TrustedBy([ca.Ca], leaf, SslPolicyErrors.RemoteCertificateNameMismatch, now));
        Assert.Equal("it presented no certificate", UpstreamTlsPolicy.TrustedBy([ca.Ca], null, SslPolicyErrors.RemoteCertificateNotAvailable, now));
    }
}

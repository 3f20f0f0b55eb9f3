using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Meshgate.Mesh.Identity;
using Meshgate.Proxy.Mesh;
using Meshgate.TestKit;
using Meshgate.TestKit.Mesh;
using Microsoft.Extensions.Logging.Abstractions;

namespace Meshgate.Mesh.Tests.Identity;

/// <summary>The workload identity against a real control plane and CA: first certificate, renewal, refusals, outages.</summary>
public sealed class WorkloadIdentityTests
{
    private static WorkloadIdentity Create(TestMesh mesh, string service, TimeProvider? time = null, string? token = null, Uri? controlPlane = null) =>
        new(new WorkloadIdentityOptions
        {
            ControlPlane = controlPlane ?? mesh.ControlPlaneUrl,
            Service = service,
            Token = () => token ?? TestMesh.TokenOf(service),
            RetryInitial = TimeSpan.FromMilliseconds(200),
            RetryMax = TimeSpan.FromSeconds(2),
            TrustBundleRefresh = TimeSpan.FromHours(100),
        }, time ?? TimeProvider.System, NullLogger<WorkloadIdentity>.Instance);

    [Fact]
    public async Task Start_GetsLeafWithSpiffeIdAndKey_ThatChainsToTheBundle()
    {
        await using var mesh = await TestMesh.StartAsync();
        await using var identity = Create(mesh, "orders");

        await identity.WaitForCertificateAsync(TimeSpan.FromSeconds(20));

        Assert.Equal("spiffe://mesh.test/ns/default/sa/orders", identity.SpiffeId);
        Assert.Equal(identity.SpiffeId, MeshPeerValidation.SpiffeIdOf(identity.Certificate));
        Assert.True(identity.Certificate.HasPrivateKey);
        Assert.NotNull(identity.Certificate.GetECDsaPublicKey());
        Assert.Equal("spiffe://mesh.test/ns/shop/sa/payments", identity.SpiffeIdOf("payments", "shop"));
        Assert.Equal(identity.SpiffeId, MeshPeerValidation.VerifiedSpiffeId(identity.Certificate, null, identity, DateTimeOffset.UtcNow, Proxy.Tls.CertificateTrust.ClientAuthentication));
    }

    [Fact]
    public async Task Renewal_HappensAtTwoThirdsOfTheLifetime_WithANewSerialAndKey()
    {
        await using var mesh = await TestMesh.StartAsync();
        var clock = new JumpClock();
        await using var identity = Create(mesh, "orders", clock);
        await identity.WaitForCertificateAsync(TimeSpan.FromSeconds(20));
        var first = identity.Certificate;

        // 15 h of a 24 h leaf: not yet.
        clock.Advance(TimeSpan.FromHours(15));
        await Task.Delay(500);
        Assert.Same(first, identity.Certificate);

        // Past 16 h: renewed.
        clock.Advance(TimeSpan.FromHours(1.1));
        await Eventually.HoldsAsync(() => Task.FromResult(!ReferenceEquals(first, identity.Certificate)), TimeSpan.FromSeconds(20), "the leaf is renewed at two thirds of its life");
        Assert.NotEqual(first.SerialNumber, identity.Certificate.SerialNumber);
        Assert.NotEqual(first.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo(), identity.Certificate.GetECDsaPublicKey()!.ExportSubjectPublicKeyInfo());
        Assert.Equal(first.GetNameInfo(X509NameType.SimpleName, false), identity.Certificate.GetNameInfo(X509NameType.SimpleName, false));
    }

    [Fact]
    public async Task RootRotation_ReachesTheTrustBundle_AtTheNextRefresh()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        var options = new Meshgate.Mesh.CertificateAuthority.CertificateAuthorityOptions { TrustDomain = "mesh.test", StateDirectory = dir.Path };
        options.Tokens.Add(new Meshgate.Mesh.CertificateAuthority.BootstrapToken("default", "orders", Meshgate.Mesh.CertificateAuthority.BootstrapToken.Hash(TestMesh.TokenOf("orders"))));
        await using var ca = await CertificateAuthority.CaServer.StartAsync(options);
        var clock = new JumpClock();
        await using var identity = new WorkloadIdentity(new WorkloadIdentityOptions
        {
            ControlPlane = ca.Address,
            Service = "orders",
            Token = () => TestMesh.TokenOf("orders"),
            TrustBundleRefresh = TimeSpan.FromMinutes(1),
        }, clock, NullLogger<WorkloadIdentity>.Instance);
        await identity.WaitForCertificateAsync(TimeSpan.FromSeconds(20));
        var leaf = identity.Certificate;
        Assert.Single(identity.TrustBundle);

        var newRoot = ca.Authority.RotateRoot();
        clock.Advance(TimeSpan.FromSeconds(30));
        await Task.Delay(300);
        Assert.Single(identity.TrustBundle); // not before the refresh interval

        clock.Advance(TimeSpan.FromSeconds(31));
        await Eventually.HoldsAsync(() => Task.FromResult(identity.TrustBundle.Count == 2), TimeSpan.FromSeconds(20), "the rotated root reaches the bundle");
        Assert.Contains(identity.TrustBundle, c => c.Thumbprint == newRoot.Thumbprint);
        Assert.Same(leaf, identity.Certificate); // a bundle refresh is not a renewal
    }

    [Fact]
    public async Task BadToken_FailsAtOnce_WithTheCasReason()
    {
        await using var mesh = await TestMesh.StartAsync();
        await using var identity = Create(mesh, "orders", token: "not-a-token-the-ca-knows");

        var watch = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<WorkloadIdentityUnavailableException>(() => identity.WaitForCertificateAsync(TimeSpan.FromSeconds(30)));

        Assert.Contains("refused", error.Message);
        Assert.Contains("the bootstrap token is not valid", error.Message);
        Assert.Contains("default/orders", error.Message);
        Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"a refusal is final: it should not wait for the timeout ({watch.Elapsed})");
        Assert.Throws<WorkloadIdentityUnavailableException>(() => identity.Certificate);
    }

    [Fact]
    public async Task ControlPlaneUnreachable_FailsAfterTheWait_SayingSo()
    {
        await using var mesh = await TestMesh.StartAsync();
        var port = mesh.ControlPlaneUrl.Port;
        await mesh.StopControlPlaneAsync();
        await using var identity = Create(mesh, "orders", controlPlane: new Uri($"http://127.0.0.1:{port}"));

        var error = await Assert.ThrowsAsync<WorkloadIdentityUnavailableException>(() => identity.WaitForCertificateAsync(TimeSpan.FromSeconds(2)));

        Assert.Contains("after 2 s", error.Message);
        Assert.Contains($"the control plane at http://127.0.0.1:{port}/ is unreachable", error.Message);
    }

    [Fact]
    public async Task ControlPlaneDownAtRenewal_KeepsTheCertificate_AndRenewsWhenItIsBack()
    {
        await using var mesh = await TestMesh.StartAsync();
        var clock = new JumpClock();
        await using var identity = Create(mesh, "orders", clock);
        await identity.WaitForCertificateAsync(TimeSpan.FromSeconds(20));
        var first = identity.Certificate;

        await mesh.StopControlPlaneAsync();
        clock.Advance(TimeSpan.FromHours(16.5));
        await Eventually.HoldsAsync(() => Task.FromResult(identity.LastError?.Contains("unreachable") == true), TimeSpan.FromSeconds(20), "the renewal fails while the control plane is down");
        Assert.Same(first, identity.Certificate);
        // Retries keep failing, and the certificate stays.
        clock.Advance(TimeSpan.FromSeconds(3));
        await Task.Delay(300);
        Assert.Same(first, identity.Certificate);

        await mesh.RestartControlPlaneAsync();
        await Eventually.HoldsAsync(() =>
        {
            clock.Advance(TimeSpan.FromSeconds(3)); // past the longest backoff
            return Task.FromResult(!ReferenceEquals(first, identity.Certificate));
        }, TimeSpan.FromSeconds(30), "the renewal succeeds once the control plane is back");
        Assert.Null(identity.LastError);
        Assert.NotEqual(first.SerialNumber, identity.Certificate.SerialNumber);
    }
}

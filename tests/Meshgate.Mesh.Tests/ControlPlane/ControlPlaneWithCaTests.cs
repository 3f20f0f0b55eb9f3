using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Net.Client;
using Meshgate.Mesh.CertificateAuthority;
using Meshgate.Mesh.ControlPlane;
using Meshgate.Mesh.V1;

namespace Meshgate.Mesh.Tests.ControlPlane;

/// <summary>The control plane with its certificate authority on: one gRPC listener serves the registry and signs workload certificates.</summary>
public sealed class ControlPlaneWithCaTests
{
    [Fact]
    public async Task One_listener_registers_an_instance_and_signs_its_certificate()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        const string token = "orders-bootstrap-token-0123456789";
        var ca = new CertificateAuthorityOptions { TrustDomain = "shop.mesh", StateDirectory = dir.Path };
        ca.Tokens.Add(new BootstrapToken("shop", "orders", BootstrapToken.Hash(token)));
        await using var server = new ControlPlaneServer(new ControlPlaneOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Admin = new IPEndPoint(IPAddress.Loopback, 0),
            CertificateAuthority = ca,
        }, policies: null);
        await server.StartAsync();
        using var channel = GrpcChannel.ForAddress(server.GrpcAddress);

        var lease = await new Registry.RegistryClient(channel).RegisterAsync(TestControlPlane.Instance("orders", "orders-1"));
        Assert.True(lease.TtlMs > 0);

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var csr = new CertificateRequest("CN=orders", key, HashAlgorithmName.SHA256).CreateSigningRequest();
        var signed = await new V1.CertificateAuthority.CertificateAuthorityClient(channel).SignAsync(new SignRequest { Csr = ByteString.CopyFrom(csr), BootstrapToken = token });

        using var leaf = X509Certificate2.CreateFromPem(signed.CertificatePem);
        Assert.Equal("spiffe://shop.mesh/ns/shop/sa/orders", signed.SpiffeId);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPem(signed.TrustBundlePem);
        chain.ChainPolicy.CustomTrustStore.AddRange(bundle);
        Assert.True(chain.Build(leaf), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
    }
}

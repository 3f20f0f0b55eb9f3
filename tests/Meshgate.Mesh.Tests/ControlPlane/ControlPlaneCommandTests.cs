using Meshgate.TestKit;

namespace Meshgate.Mesh.Tests.ControlPlane;

/// <summary>`meshgate control-plane` run in-process through <see cref="Cli"/>: what a user sees when a flag or the policies file is wrong.</summary>
public sealed class ControlPlaneCommandTests
{
    [Fact]
    public async Task A_bad_policies_file_prints_every_error_with_its_line_and_exits_2()
    {
        var file = Path.Combine(Path.GetTempPath(), $"meshgate-policies-{Guid.NewGuid():N}.yaml");
        await File.WriteAllTextAsync(file, "services:\n  orders:\n    timeout: 2\n    retries: x\n");
        try
        {
            var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--policies", file);
            Assert.Equal(2, code);
            Assert.Equal(
                [
                    $"{file}: line 3: services.orders.timeout: expected a positive duration with a unit (250ms, 2s, 1m), got '2'",
                    $"{file}: line 4: services.orders.retries: expected a whole number of retries from 0 to 10, got 'x'",
                    "2 errors: the control plane did not start",
                ],
                error);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Theory]
    [InlineData("--listen", "localhost", "--listen: expected IP:port (e.g. 127.0.0.1:15010), got 'localhost'")]
    [InlineData("--admin", "127.0.0.1:99999", "--admin: expected IP:port (e.g. 127.0.0.1:15010), got '127.0.0.1:99999'")]
    [InlineData("--ttl", "30", "--ttl: expected a duration of at least 1s with a unit (30s, 2m), got '30'")]
    [InlineData("--ttl", "100ms", "--ttl: expected a duration of at least 1s with a unit (30s, 2m), got '100ms'")]
    public async Task A_bad_flag_says_what_is_expected_and_exits_1(string flag, string value, string message)
    {
        var (code, error) = await RunAsync("control-plane", flag, value);
        Assert.Equal(1, code);
        Assert.Equal([message], error);
    }

    [Fact]
    public async Task A_certificate_authority_with_half_an_intermediate_says_what_is_missing_and_exits_1()
    {
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ca-intermediate-cert", "/nonexistent/ca.crt");
        Assert.Equal(1, code);
        Assert.Equal(["certificate authority: an intermediate needs both its certificate file and its key file"], error);
    }

    [Fact]
    public async Task A_bad_tokens_file_names_its_line_and_exits_1()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        var tokens = Path.Combine(dir.Path, "tokens");
        await File.WriteAllTextAsync(tokens, "default orders\n");
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ca-state-dir", dir.Path, "--ca-tokens-file", tokens);
        Assert.Equal(1, code);
        Assert.Equal([$"--ca-tokens-file: {tokens}:1: expected '<namespace> <service> <sha256-hex> [dns-name ...]'"], error);
    }

    [Theory]
    [InlineData("redis://127.0.0.1:2379")]
    [InlineData("etcd://")]
    [InlineData("etcd://127.0.0.1")]
    [InlineData("etcd://127.0.0.1:0")]
    [InlineData("etcd://127.0.0.1:2379,")]
    [InlineData("etcd://user@127.0.0.1:2379")]
    [InlineData("127.0.0.1:2379")]
    public async Task A_bad_store_url_says_what_is_expected_and_exits_2(string store)
    {
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--store", store);
        Assert.Equal(2, code);
        Assert.Equal([$"--store: expected etcd://host:port[,host:port...] (e.g. etcd://127.0.0.1:2379), got '{store}'"], error);
    }

    [Fact]
    public async Task A_store_with_a_state_file_says_they_are_exclusive_and_exits_2()
    {
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--store", "etcd://127.0.0.1:2379", "--state", "/tmp/meshgate-state.json");
        Assert.Equal(2, code);
        Assert.Equal(["--state and --store are exclusive: with --store etcd://... the registry and the policies live in etcd"], error);
    }

    [Fact]
    public async Task A_store_with_a_self_made_ca_root_asks_for_an_intermediate_and_exits_2()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--store", "etcd://127.0.0.1:2379", "--ca-state-dir", dir.Path);
        Assert.Equal(2, code);
        Assert.Equal(["--ca-state-dir cannot be used with --store etcd://...: every replica must sign with the same CA, so give them all the same --ca-intermediate-cert and --ca-intermediate-key (see docs/mesh.md)"], error);
    }

    [Fact]
    public async Task A_bad_etcd_prefix_says_what_is_expected_and_exits_2()
    {
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--store", "etcd://127.0.0.1:2379", "--etcd-prefix", "meshgate");
        Assert.Equal(2, code);
        Assert.Equal(["--etcd-prefix: expected a key prefix that starts and ends with '/' (e.g. /meshgate/), got 'meshgate'"], error);
    }

    [Fact]
    public async Task An_unreachable_etcd_names_it_and_exits_1()
    {
        var port = DebianServerBinary.FreePort(); // nothing listens there
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--store", $"etcd://127.0.0.1:{port}", "--insecure-plaintext");
        Assert.Equal(1, code);
        Assert.StartsWith($"cannot start: cannot load the mesh from etcd at etcd://127.0.0.1:{port} (prefix /meshgate/): Unavailable:", Assert.Single(error));
    }

    [Fact]
    public async Task Control_plane_on_a_real_etcd_serves_what_is_stored_there()
    {
        await using var etcd = await Meshgate.TestKit.EtcdServer.StartAsync();
        var admin = DebianServerBinary.FreePort();
        using var stop = new CancellationTokenSource();
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var run = Cli.RunAsync(["control-plane", "--listen", "127.0.0.1:0", "--admin", $"127.0.0.1:{admin}", "--store", etcd.StoreUrl, "--etcd-prefix", "/shop/", "--insecure-plaintext"], output, errors, stop.Token);
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{admin}") };
        await Meshgate.TestKit.Eventually.HoldsAsync(async () =>
        {
            if (run.IsCompleted) throw new InvalidOperationException($"the control plane exited {await run}: {errors}");
            try
            {
                using var response = await http.GetAsync("/admin/health/ready");
                return response.IsSuccessStatusCode;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(15), "the control plane on etcd becomes ready");
        await stop.CancelAsync();
        await run;
    }

    public static TheoryData<string[], string> TlsUsageErrors => new()
    {
        { [], "the gRPC listener serves TLS, and without the certificate authority nothing issues its certificate: give --tls-cert and --tls-key, turn the CA on (--ca-state-dir or --ca-intermediate-cert), or pass --insecure-plaintext (tests and demos only)" },
        { ["--insecure-plaintext", "--tls-san", "cp.example"], "--insecure-plaintext serves h2c without TLS: it cannot be combined with --tls-cert, --tls-key or --tls-san" },
        { ["--tls-cert", "/etc/hostname"], "--tls-cert and --tls-key go together: the certificate and its private key (PEM)" },
        { ["--tls-cert", "/nonexistent/cp.crt", "--tls-key", "/nonexistent/cp.key"], "--tls-cert: file '/nonexistent/cp.crt' does not exist" },
        { ["--insecure-plaintext", "--write-trust-bundle", "/tmp/ca.pem"], "--write-trust-bundle writes the certificate authority's roots: turn the CA on (--ca-state-dir or --ca-intermediate-cert)" },
    };

    [Theory]
    [MemberData(nameof(TlsUsageErrors))]
    public async Task A_listener_without_a_way_to_tls_or_with_clashing_tls_flags_says_why_and_exits_2(string[] flags, string message)
    {
        var (code, error) = await RunAsync(["control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", .. flags]);
        Assert.Equal(2, code);
        Assert.Equal([message], error);
    }

    [Fact]
    public async Task A_bad_tls_san_says_what_is_expected_and_exits_2()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        var (code, error) = await RunAsync("control-plane", "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--ca-state-dir", dir.Path, "--tls-san", "not a name");
        Assert.Equal(2, code);
        Assert.Equal(["--tls-san: 'not a name' is neither a host name nor an IP address"], error);
    }

    [Fact]
    public async Task With_a_ca_the_command_serves_tls_by_default_and_writes_the_trust_bundle_workloads_verify_it_with()
    {
        using var dir = new CertificateAuthority.ScratchDirectory();
        var tokens = Path.Combine(dir.Path, "tokens");
        await File.WriteAllTextAsync(tokens, $"default orders {Meshgate.Mesh.CertificateAuthority.BootstrapToken.Hash(Meshgate.TestKit.Mesh.TestMesh.TokenOf("orders"))}\n");
        var bundle = Path.Combine(dir.Path, "control-plane-ca.pem");
        var (grpc, admin) = (DebianServerBinary.FreePort(), DebianServerBinary.FreePort());
        using var stop = new CancellationTokenSource();
        using var output = new StringWriter();
        using var errors = new StringWriter();
        var run = Cli.RunAsync(["control-plane", "--listen", $"127.0.0.1:{grpc}", "--admin", $"127.0.0.1:{admin}", "--ca-state-dir", Path.Combine(dir.Path, "ca"),
            "--ca-tokens-file", tokens, "--ca-trust-domain", "mesh.test", "--write-trust-bundle", bundle], output, errors, stop.Token);
        await Meshgate.TestKit.Eventually.HoldsAsync(async () =>
        {
            if (run.IsCompleted) throw new InvalidOperationException($"the control plane exited {await run}: {errors}");
            return File.Exists(bundle);
        }, TimeSpan.FromSeconds(15), "the control plane writes its trust bundle");

        await using var identity = new Meshgate.Mesh.Identity.WorkloadIdentity(new Meshgate.Mesh.Identity.WorkloadIdentityOptions
        {
            ControlPlane = new Uri($"https://127.0.0.1:{grpc}"),
            ControlPlaneCa = bundle,
            Service = "orders",
            Token = () => Meshgate.TestKit.Mesh.TestMesh.TokenOf("orders"),
            RetryInitial = TimeSpan.FromMilliseconds(200),
        }, TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<Meshgate.Mesh.Identity.WorkloadIdentity>.Instance);
        await identity.WaitForCertificateAsync(TimeSpan.FromSeconds(20));
        Assert.Equal("spiffe://mesh.test/ns/default/sa/orders", identity.SpiffeId);

        // The same listener refuses a plaintext client.
        using var plaintext = Meshgate.Mesh.ControlPlane.Client.ControlPlaneChannel.Create(new Uri($"http://127.0.0.1:{grpc}"), null);
        await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await new Meshgate.Mesh.V1.CertificateAuthority.CertificateAuthorityClient(plaintext)
            .GetTrustBundleAsync(new Meshgate.Mesh.V1.GetTrustBundleRequest(), deadline: DateTime.UtcNow.AddSeconds(10)));
        await stop.CancelAsync();
        Assert.Equal(0, await run);
    }

    private static async Task<(int Code, string[] Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Cli.RunAsync(args, output, error);
        return (code, error.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}

using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.RegularExpressions;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Demo;

/// <summary>
/// `meshgate demo --mesh` as the real executable, as a newcomer runs it: a control plane, frontend → orders → payments
/// with their sidecars and the gateway in front, all on free ports, found from what the demo prints.
/// </summary>
[Trait("Runs", "meshgate")]
public sealed partial class MeshDemoTests
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);

    private sealed record Service(string Name, Uri App, Uri Inbound, Uri Outbound, Uri Admin);

    private sealed record Printed(Uri Gateway, Uri GatewayAdmin, Uri ControlPlane, Uri ControlPlaneAdmin, IReadOnlyList<Service> Services)
    {
        public IEnumerable<Uri> All => new[] { Gateway, GatewayAdmin, ControlPlane, ControlPlaneAdmin }
            .Concat(Services.SelectMany(s => new[] { s.App, s.Inbound, s.Outbound, s.Admin }));
    }

    [Fact]
    public async Task MeshDemo_FrontendAnswersWithTheWholeChain_EachHopSeeingItsCallersSpiffeId_AndStopsLeavingEveryPortFree()
    {
        await using var process = MeshgateProcess.Start("demo", "--mesh", "--port", "0", "--admin-port", "0");
        await process.CheckAsync(async () =>
        {
            var printed = await WaitUntilRunningAsync(process);
            Assert.Equal(["frontend", "orders", "payments"], printed.Services.Select(s => s.Name));
            Assert.Equal(16, printed.All.Select(u => u.Port).Distinct().Count());
            Assert.All(printed.All, u => Assert.Equal("127.0.0.1", u.Host));

            using var client = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            using var response = await client.GetAsync(new Uri(printed.Gateway, "/frontend"));
            var body = await response.Content.ReadAsStringAsync();
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"GET /frontend: {(int)response.StatusCode} {body}");
            var chain = JsonDocument.Parse(body).RootElement.GetProperty("chain").EnumerateArray()
                .Select(h => (h.GetProperty("service").GetString(), h.GetProperty("caller").GetString())).ToList();
            Assert.Equal(
            [
                ("frontend", "spiffe://mesh.local/ns/demo/sa/gateway"),
                ("orders", "spiffe://mesh.local/ns/demo/sa/frontend"),
                ("payments", "spiffe://mesh.local/ns/demo/sa/orders"),
            ], chain);

            // The mesh's mTLS is on: each sidecar's inbound side refuses plaintext, and TLS without a mesh certificate.
            foreach (var service in printed.Services)
            {
                await Assert.ThrowsAnyAsync<HttpRequestException>(() => client.GetAsync($"http://127.0.0.1:{service.Inbound.Port}/{service.Name}"));
                using var noCertificate = new HttpClient(new SocketsHttpHandler
                {
                    SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = (_, _, _, _) => true },
                });
                await Assert.ThrowsAnyAsync<HttpRequestException>(() => noCertificate.GetAsync(new Uri(service.Inbound, "/" + service.Name)));
            }

            // The mesh's allow rules, as the demo prints to try: frontend may call orders, not payments.
            using var asFrontend = new HttpClient(new SocketsHttpHandler { Proxy = new WebProxy(printed.Services[0].Outbound), UseProxy = true });
            using var forbidden = await asFrontend.GetAsync("http://payments/payments");
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);

            // `meshgate top --mesh`, as the demo prints to try, finds every sidecar through the control plane and shows each edge.
            await using (var top = MeshgateProcess.Start("top", "--mesh", "--once", "--admin", printed.ControlPlaneAdmin.ToString()))
            {
                Assert.Equal(0, await top.WaitForExitAsync(TimeSpan.FromSeconds(30)));
                Assert.Contains("3 sidecars", top.Output, StringComparison.Ordinal);
                Assert.Matches(@"demo/gateway -> demo/frontend\s+inbound\s+[1-9]", top.Output);
                Assert.Matches(@"demo/frontend -> demo/orders\s+outbound\s+[1-9]", top.Output);
                Assert.Matches(@"demo/orders -> demo/payments\s+outbound\s+[1-9]", top.Output);
            }

            // Ctrl+C takes the same path (SIGINT and SIGTERM both stop the hosts and cancel the command); TERM is sent
            // because a child of a test runner started in the background may inherit an ignored SIGINT.
            process.Signal("TERM");
            Assert.Equal(0, await process.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains("Stopped.", process.Output, StringComparison.Ordinal);
            foreach (var url in printed.All)
            {
                using var listener = new TcpListener(IPAddress.Loopback, url.Port);
                listener.Start();
            }
        });
    }

    [Theory]
    [InlineData("--port")]
    [InlineData("--admin-port")]
    public async Task MeshDemo_PortInUse_ExitsWithOneLineSayingWhich(string option)
    {
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        string[] ports = option == "--port" ? ["--port", $"{port}", "--admin-port", "0"] : ["--port", "0", "--admin-port", $"{port}"];
        await using var process = MeshgateProcess.Start(["demo", "--mesh", .. ports]);

        var exitCode = await process.WaitForExitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal(1, exitCode);
        var lines = process.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var error = Assert.Single(lines, l => l.StartsWith("cannot start", StringComparison.Ordinal));
        Assert.Equal($"cannot start the mesh demo: 127.0.0.1:{port} ({option}) is already in use: stop what listens there or choose another port with {option}", error);
        Assert.Equal(2, lines.Length);
    }

    private static async Task<Printed> WaitUntilRunningAsync(MeshgateProcess process)
    {
        var deadline = DateTime.UtcNow + StartTimeout;
        while (!process.Output.Contains("Ctrl-C stops it.", StringComparison.Ordinal))
        {
            if (process.HasExited) throw new InvalidOperationException($"the demo exited with {process.ExitCode}");
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the demo did not say it runs within {StartTimeout}");
            await Task.Delay(100);
        }
        var output = process.Output;
        var gateway = GatewayLine().Match(output);
        var controlPlane = ControlPlaneLine().Match(output);
        Assert.True(gateway.Success && controlPlane.Success, "the gateway's and the control plane's lines");
        var services = ServiceLine().Matches(output).Select(m => new Service(m.Groups[1].Value, new Uri(m.Groups[2].Value), new Uri(m.Groups[3].Value), new Uri(m.Groups[4].Value), new Uri(m.Groups[5].Value))).ToList();
        return new Printed(new Uri(gateway.Groups[1].Value), new Uri(gateway.Groups[2].Value), new Uri(controlPlane.Groups[1].Value), new Uri(controlPlane.Groups[2].Value), services);
    }

    [GeneratedRegex(@"gateway \(mesh ingress\)\s+(\S+)\s+admin (\S+)")]
    private static partial Regex GatewayLine();

    [GeneratedRegex(@"control plane\s+gRPC\+TLS (\S+)\s+admin (\S+)")]
    private static partial Regex ControlPlaneLine();

    [GeneratedRegex(@"(\w+)\s+app (\S+)\s+sidecar inbound (\S+) \(mTLS\)\s+outbound (\S+) \(HTTP proxy\)\s+admin (\S+)")]
    private static partial Regex ServiceLine();
}

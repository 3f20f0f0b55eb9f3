using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Observability;

/// <summary>`meshgate status` and `meshgate top` run through the CLI entry point against a live gateway.</summary>
public sealed class CliTests(LiveTrafficGateway live) : IClassFixture<LiveTrafficGateway>
{
    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await Cli.RunAsync(args, output, error);
        return (code, output.ToString(), error.ToString());
    }

    private string Admin => live.Gateway.Host.AdminUrl.ToString();

    /// <summary>The cells of the table row that starts with <paramref name="route"/>.</summary>
    private static string[] Row(string table, string route) =>
        table.Split('\n').Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Single(cells => cells.Length > 0 && cells[0] == route);

    [Fact]
    public async Task TopOnce_LiveGateway_RouteRowsMatchTrafficSent()
    {
        var (code, output, error) = await RunAsync("top", "--admin", Admin, "--token", LiveTrafficGateway.Token, "--once");

        Assert.True(code == 0, error);
        Assert.DoesNotContain("\u001b[", output); // not a terminal: plain text
        Assert.Contains("REQUESTS", output);
        var orders = Row(output, "orders");
        Assert.Equal(LiveTrafficGateway.OrdersRequests.ToString(), orders[1]);
        Assert.Equal("100.0%", orders[3]);
        Assert.True(double.Parse(orders[4], System.Globalization.CultureInfo.InvariantCulture) > 0); // p50 ms
        var payments = Row(output, "payments");
        Assert.Equal(LiveTrafficGateway.FailingRequests.ToString(), payments[1]);
        Assert.Equal("0.0%", payments[3]);
        Assert.Contains("(no route)", output);
    }

    [Fact]
    public async Task Top_TokenFromEnvironment_Works()
    {
        Environment.SetEnvironmentVariable("MESHGATE_ADMIN_TOKEN", LiveTrafficGateway.Token);
        try
        {
            var (code, output, error) = await RunAsync("top", "--admin", Admin, "--once");
            Assert.True(code == 0, error);
            Assert.Equal(LiveTrafficGateway.OrdersRequests.ToString(), Row(output, "orders")[1]);
        }
        finally
        {
            Environment.SetEnvironmentVariable("MESHGATE_ADMIN_TOKEN", null);
        }
    }

    [Fact]
    public async Task Top_WithoutOnce_RefreshesUntilCancelled()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        var code = await Cli.RunAsync(["top", "--admin", Admin, "--token", LiveTrafficGateway.Token, "--interval", "200ms"], output, error, stop.Token);
        Assert.True(code == 0, error.ToString());
        Assert.True(output.ToString().Split("meshgate top").Length - 1 >= 2, output.ToString());
    }

    [Fact]
    public async Task Status_LiveGateway_VersionListenersRoutesAndEndpointHealth()
    {
        var (code, output, error) = await RunAsync("status", "--admin", Admin, "--token", LiveTrafficGateway.Token);

        Assert.True(code == 0, error);
        var version = System.Text.Json.JsonDocument.Parse(await live.Gateway.Admin.GetStringAsync("/admin/config/status")).RootElement.GetProperty("version").GetString()!;
        Assert.Contains($"version {version}", output);
        Assert.Contains("listeners", output);
        Assert.Contains("127.0.0.1:0", output);
        Assert.Contains("/orders", output);
        Assert.Contains("-> cluster payments", output);
        Assert.Matches(@"orders\s+1 of 1 endpoints available", output);
        Assert.Contains(live.UpstreamEndpoint, output);
    }

    [Theory]
    [InlineData("status")]
    [InlineData("top")]
    public async Task Command_NoToken_SaysATokenIsNeeded(string command)
    {
        var (code, output, error) = await RunAsync(command == "top" ? ["top", "--admin", Admin, "--once"] : ["status", "--admin", Admin]);
        Assert.Equal(1, code);
        Assert.Contains("needs a token (401)", error);
        Assert.Contains("--token", error);
        Assert.Equal("", output);
    }

    [Fact]
    public async Task Status_WrongToken_SaysTheTokenWasRefused()
    {
        var (code, _, error) = await RunAsync("status", "--admin", Admin, "--token", "wrong");
        Assert.Equal(1, code);
        Assert.Contains("refused the token", error);
    }

    [Fact]
    public async Task Top_AdminUnreachable_SaysTheUrlAndTheReason()
    {
        // A free port: nothing listens there.
        var port = DebianServerBinary.FreePort();

        var (code, _, error) = await RunAsync("top", "--admin", $"http://127.0.0.1:{port}", "--once");

        Assert.Equal(1, code);
        Assert.Contains($"cannot reach the admin API at http://127.0.0.1:{port}/", error);
        Assert.Contains("refused", error, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData("status", "127.0.0.1:9901")]
    [InlineData("top", "ftp://127.0.0.1:9901")]
    [InlineData("top", "not a url")]
    public async Task Command_BadUrl_UsageError(string command, string url)
    {
        var (code, _, error) = await RunAsync(command, "--admin", url);
        Assert.Equal(2, code);
        Assert.Contains($"bad --admin URL '{url}'", error);
    }

    [Fact]
    public async Task Top_BadInterval_UsageError()
    {
        var (code, _, error) = await RunAsync("top", "--admin", Admin, "--interval", "soon");
        Assert.Equal(2, code);
        Assert.Contains("bad --interval 'soon'", error);
    }
}

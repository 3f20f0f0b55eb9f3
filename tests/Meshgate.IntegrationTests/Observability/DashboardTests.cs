using Microsoft.Playwright;

namespace Meshgate.IntegrationTests.Observability;

/// <summary>
/// The dashboard in a real headless Chromium (Debian's package, driven by Playwright): it must ask for the
/// admin token, then show the traffic the fixture sent, the endpoint's health and the reload history.
/// </summary>
[Collection(Browser.Name)]
public sealed class DashboardTests(LiveTrafficGateway live) : IClassFixture<LiveTrafficGateway>
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly float Wait = 20_000;

    [Fact]
    public async Task Dashboard_WithToken_ShowsTrafficHealthAndReloads()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: install Debian's chromium package (apt-get install -y chromium); scripts/test does this when run as root");

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = Chromium, Headless = true });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 1600 } });
        var problems = new List<string>();
        page.Console += (_, message) => { if (message.Type == "error") problems.Add(message.Text); };
        page.PageError += (_, error) => problems.Add(error);

        var response = await page.GotoAsync(new Uri(live.Gateway.Host.AdminUrl, "/admin/dashboard").ToString());
        Assert.Equal(200, response!.Status);
        Assert.Contains("'self'", response.Headers["content-security-policy"]);
        Assert.Equal("nosniff", response.Headers["x-content-type-options"]);

        // The admin API has a token: the page asks for it, and nothing but the form shows until it has one.
        await page.Locator("#token-form").WaitForAsync(new LocatorWaitForOptions { State = WaitForSelectorState.Visible, Timeout = Wait });
        await page.Locator("#token").FillAsync(LiveTrafficGateway.Token);
        await page.Locator("#token-form button").ClickAsync();

        // The chart card for the route carries the count it drew; it must equal what the fixture sent.
        var card = page.Locator($".route-card[data-route='orders'][data-requests-window='{LiveTrafficGateway.OrdersRequests}']");
        await card.WaitForAsync(new LocatorWaitForOptions { Timeout = Wait });
        Assert.Contains($"{LiveTrafficGateway.OrdersRequests} requests in 15 min", await card.Locator(".requests-window").InnerTextAsync());
        Assert.Equal(1, await card.Locator("svg.chart path.requests").CountAsync());
        Assert.Equal(1, await card.Locator("svg.chart path.p99").CountAsync());
        Assert.Equal(LiveTrafficGateway.OrdersRequests.ToString(), await page.Locator("#routes tr[data-route='orders'] td").Nth(3).InnerTextAsync());
        Assert.Equal("100.0%", await page.Locator("#routes tr[data-route='payments'] td").Nth(5).InnerTextAsync());

        // The orders endpoint passes its active health check; the page shows it once the first probe has answered.
        var endpoint = page.Locator($"[data-cluster='orders'] tr[data-endpoint='{live.UpstreamEndpoint}'][data-health='healthy']");
        await endpoint.WaitForAsync(new LocatorWaitForOptions { Timeout = Wait });
        Assert.Contains("healthy", await endpoint.InnerTextAsync());

        var reloads = page.Locator("#reloads tr.reload");
        Assert.True(await reloads.CountAsync() >= 1);
        Assert.Contains("start", await reloads.Last.InnerTextAsync());
        Assert.Contains("applied", await reloads.Last.InnerTextAsync());
        Assert.Contains("counted in this process", await page.Locator("#ratelimit-store").InnerTextAsync());

        // The cached route: one miss, then hits, as the fixture sent them.
        var cache = page.Locator($"#cache-routes tr[data-route='catalog'][data-hits='{LiveTrafficGateway.CatalogRequests - 1}']");
        await cache.WaitForAsync(new LocatorWaitForOptions { Timeout = Wait });
        Assert.Equal("1", await cache.Locator("td").Nth(4).InnerTextAsync());
        Assert.Equal("80.0%", await cache.Locator("td").Nth(6).InnerTextAsync());
        Assert.Equal("memory", await page.Locator("#cache-policies tr[data-policy='short'] td").Nth(1).InnerTextAsync());

        var screenshots = Path.Combine(AppContext.BaseDirectory, "screenshots");
        Directory.CreateDirectory(screenshots);
        var file = Path.Combine(screenshots, "dashboard.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = file, FullPage = true });
        var png = await File.ReadAllBytesAsync(file);
        Assert.True(png.Length > 1000, $"screenshot {file} is {png.Length} bytes");
        Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);

        // The browser logs the fetches refused before the token was given; anything else (a CSP violation too) is a defect.
        var unexpected = problems.Where(p => !p.Contains("status of 401", StringComparison.Ordinal)).ToList();
        Assert.True(unexpected.Count == 0, "the page logged errors: " + string.Join("; ", unexpected));
    }
}

/// <summary>
/// Chromium's start-up is a burst of CPU: it runs alone, after the parallel tests, so it does not stretch
/// the timings of health-check, rate-limit and outlier tests on a small machine.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class Browser
{
    public const string Name = "browser";
}

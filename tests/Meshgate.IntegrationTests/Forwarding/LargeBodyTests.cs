using System.Diagnostics;
using System.Globalization;
using System.Net;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Xunit.Abstractions;

namespace Meshgate.IntegrationTests.Forwarding;

/// <summary>Measures the whole test process's memory, so nothing else may run beside these tests.</summary>
[CollectionDefinition(nameof(MemoryMeasured), DisableParallelization = true)]
public sealed class MemoryMeasured;

/// <summary>
/// Bodies far larger than any buffer stream through the gateway: every byte arrives, and the
/// process (gateway and upstream together) stays within a fixed memory bound while they do.
/// </summary>
[Collection(nameof(MemoryMeasured))]
public sealed class LargeBodyTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const long UploadBytes = 100L * 1024 * 1024;
    private const long DownloadBytes = 50L * 1024 * 1024;
    private const long MaxWorkingSetGrowth = 60L * 1024 * 1024;

    private TestUpstream _upstream = null!;
    private readonly Dictionary<string, TestGateway> _gateways = [];

    public async Task InitializeAsync()
    {
        _upstream = await TestUpstream.StartAsync(app =>
        {
            app.MapPost("/upload", async (HttpContext context) =>
            {
                var (count, sha256) = await GeneratedContent.DrainAsync(context.Request.Body, context.RequestAborted);
                context.Response.Headers["x-body-sha256"] = sha256;
                await context.Response.WriteAsync(count.ToString(CultureInfo.InvariantCulture), context.RequestAborted);
            });
            app.MapGet("/download", async (HttpContext context) =>
            {
                var length = long.Parse(context.Request.Query["bytes"]!, CultureInfo.InvariantCulture);
                context.Response.ContentLength = length;
                context.Response.ContentType = "application/octet-stream";
                await GeneratedContent.WriteAsync(context.Response.Body, length, context.RequestAborted);
            });
        });
        foreach (var forwarder in new[] { "auto", "yarp" })
        {
            var gateway = await TestGateway.StartAsync($$"""
                listeners:
                  - name: big
                    address: 127.0.0.1:0
                    limits: { maxRequestBodySize: 0 }
                routes:
                  - { id: all, match: { path: "/{**rest}" }, cluster: sink }
                clusters:
                  - { id: sink, endpoints: ["{{_upstream.Endpoint}}"], forwarder: {{forwarder}} }
                """);
            gateway.Client.Timeout = TimeSpan.FromSeconds(60);
            _gateways[forwarder] = gateway;
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var gateway in _gateways.Values) await gateway.DisposeAsync();
        await _upstream.DisposeAsync();
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task Upload_100MiB_AllBytesArriveWithBoundedMemory(string forwarder)
    {
        var gateway = _gateways[forwarder];
        // Warm up the path (JIT, connection pools) so the baseline holds everything but the transfer.
        await UploadAsync(gateway, 1024 * 1024);
        var expected = GeneratedContent.Sha256(UploadBytes);

        await using var sampler = WorkingSetSampler.Start();
        var (count, sha256) = await UploadAsync(gateway, UploadBytes);
        var growth = await sampler.StopAsync();
        output.WriteLine($"working set growth during upload: {growth / (1024 * 1024)} MiB");

        Assert.Equal(UploadBytes, count);
        Assert.Equal(expected, sha256);
        gateway.AssertServedBy(forwarder);
        Assert.True(growth < MaxWorkingSetGrowth, $"working set grew by {growth / (1024 * 1024)} MiB while uploading {UploadBytes / (1024 * 1024)} MiB; the limit is {MaxWorkingSetGrowth / (1024 * 1024)} MiB");
    }

    [Theory]
    [MemberData(nameof(Forwarders.Both), MemberType = typeof(Forwarders))]
    public async Task Download_50MiB_AllBytesArriveWithBoundedMemory(string forwarder)
    {
        var gateway = _gateways[forwarder];
        await DownloadAsync(gateway, 1024 * 1024);
        var expected = GeneratedContent.Sha256(DownloadBytes);

        await using var sampler = WorkingSetSampler.Start();
        var (count, sha256, contentLength) = await DownloadAsync(gateway, DownloadBytes);
        var growth = await sampler.StopAsync();
        output.WriteLine($"working set growth during download: {growth / (1024 * 1024)} MiB");

        Assert.Equal(DownloadBytes, contentLength);
        Assert.Equal(DownloadBytes, count);
        Assert.Equal(expected, sha256);
        gateway.AssertServedBy(forwarder);
        Assert.True(growth < MaxWorkingSetGrowth, $"working set grew by {growth / (1024 * 1024)} MiB while downloading {DownloadBytes / (1024 * 1024)} MiB; the limit is {MaxWorkingSetGrowth / (1024 * 1024)} MiB");
    }

    private static async Task<(long Count, string Sha256)> UploadAsync(TestGateway gateway, long bytes)
    {
        using var content = new GeneratedContent(bytes);
        using var response = await gateway.Client.PostAsync("/upload", content);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var count = long.Parse(await response.Content.ReadAsStringAsync(), CultureInfo.InvariantCulture);
        return (count, response.Headers.GetValues("x-body-sha256").Single());
    }

    private static async Task<(long Count, string Sha256, long? ContentLength)> DownloadAsync(TestGateway gateway, long bytes)
    {
        using var response = await gateway.Client.GetAsync($"/download?bytes={bytes}", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        await using var body = await response.Content.ReadAsStreamAsync();
        var (count, sha256) = await GeneratedContent.DrainAsync(body, CancellationToken.None);
        return (count, sha256, response.Content.Headers.ContentLength);
    }

    /// <summary>Samples the process's working set every few milliseconds; reports the peak above the starting value.</summary>
    private sealed class WorkingSetSampler : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly long _baseline;
        private readonly Task<long> _peak;

        private WorkingSetSampler()
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            _baseline = WorkingSet();
            _peak = Task.Run(async () =>
            {
                var peak = _baseline;
                while (!_stop.IsCancellationRequested)
                {
                    peak = Math.Max(peak, WorkingSet());
                    try { await Task.Delay(5, _stop.Token); } catch (OperationCanceledException) { }
                }
                return Math.Max(peak, WorkingSet());
            });
        }

        public static WorkingSetSampler Start() => new();

        public async Task<long> StopAsync()
        {
            await _stop.CancelAsync();
            return await _peak - _baseline;
        }

        private static long WorkingSet()
        {
            using var process = Process.GetCurrentProcess();
            process.Refresh();
            return process.WorkingSet64;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _peak;
            _stop.Dispose();
        }
    }
}

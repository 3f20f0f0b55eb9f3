using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Meshgate.Proxy.FrontEnd;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.IntegrationTests.Sockets;

/// <summary>
/// What a client sees is the same on both socket engines (docs/sockets.md): each test runs with <c>sockets: epoll</c>
/// (the default on Linux, which the rest of the suite runs on) and <c>sockets: runtime</c>. Real clients, real upstreams:
/// keep-alive on both the front end and the pipeline, bodies larger than any buffer, an upstream that answers and
/// closes, a dead upstream and a TLS listener.
/// </summary>
public sealed class SocketEngineTests
{
    private static string Config(string engine, string endpoint, string listenerExtra = "", string forwarder = "auto") => $$"""
        sockets: {{engine}}
        listeners:
          - name: web
            address: 127.0.0.1:0
        {{listenerExtra}}
        routes:
          - id: all
            match: { path: "/{**rest}" }
            cluster: up
        clusters:
          - id: up
            forwarder: {{forwarder}}
            endpoints: ["{{endpoint}}"]
        """;

    /// <summary>GET /big/N answers N deterministic bytes; POST answers the length and SHA-256 of what it read.</summary>
    private static Task<TestUpstream> UpstreamAsync() => TestUpstream.StartAsync(app => app.Run(async context =>
    {
        if (HttpMethods.IsPost(context.Request.Method))
        {
            using var body = new MemoryStream();
            await context.Request.Body.CopyToAsync(body);
            await context.Response.WriteAsync($"{body.Length} {Convert.ToHexString(SHA256.HashData(body.ToArray()))}");
            return;
        }
        if (context.Request.Path.StartsWithSegments("/big", out var rest) && int.TryParse(rest.Value!.TrimStart('/'), out var size))
        {
            await context.Response.Body.WriteAsync(Pattern(size));
            return;
        }
        await context.Response.WriteAsync("hello " + context.Request.Path);
    }));

    private static byte[] Pattern(int size)
    {
        var bytes = new byte[size];
        for (var i = 0; i < size; i++) bytes[i] = (byte)(i * 31 + i / 7);
        return bytes;
    }

    /// <summary>
    /// Keep-alive clients through the front end and the pipeline (forwarder auto: the direct path), and through YARP's
    /// forwarder (its HttpClient on .NET's sockets, behind client connections on either engine).
    /// </summary>
    [Theory]
    [InlineData("epoll", "auto")]
    [InlineData("runtime", "auto")]
    [InlineData("epoll", "yarp")]
    [InlineData("runtime", "yarp")]
    public async Task KeepAlive_UploadsAndLargeAnswers_EveryAnswerRight(string engine, string forwarder)
    {
        await using var upstream = await UpstreamAsync();
        await using var gateway = await TestGateway.StartAsync(Config(engine, upstream.Endpoint, forwarder: forwarder));
        var upload = Pattern(300_000);
        var expectedUpload = $"{upload.Length} {Convert.ToHexString(SHA256.HashData(upload))}";
        var large = Pattern(3 * 1024 * 1024);

        // Eight clients at once, each on its own keep-alive connection: GETs (the front end, on the direct path) and
        // POSTs with a body (the pipeline), then an answer larger than any buffer.
        var clients = Enumerable.Range(0, 8).Select(c => Task.Run(async () =>
        {
            using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 1 }) { BaseAddress = gateway.Url };
            for (var i = 0; i < 25; i++)
            {
                Assert.Equal($"hello /c{c}/{i}", await client.GetStringAsync($"/c{c}/{i}"));
                if (i % 5 == 0)
                {
                    using var response = await client.PostAsync("/upload", new ByteArrayContent(upload));
                    Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                    Assert.Equal(expectedUpload, await response.Content.ReadAsStringAsync());
                }
            }
            Assert.Equal(large, await client.GetByteArrayAsync("/big/" + large.Length));
        }));
        await Task.WhenAll(clients);
        // On the direct path each connection's first GET is the front end's; its first POST hands the connection to
        // Kestrel for good. YARP's routes are the pipeline's.
        var served = gateway.Host.Gateway.Services.GetRequiredService<DirectFrontEnd>().Served;
        if (forwarder == "auto") Assert.True(served >= 8);
        else Assert.Equal(0, served);
    }

    [Theory]
    [InlineData("epoll")]
    [InlineData("runtime")]
    public async Task LargeAnswer_ReachesASlowClientWhole(string engine)
    {
        await using var upstream = await UpstreamAsync();
        await using var gateway = await TestGateway.StartAsync(Config(engine, upstream.Endpoint));
        const int size = 8 * 1024 * 1024;

        using var response = await gateway.Client.GetAsync("/big/" + size, HttpCompletionOption.ResponseHeadersRead);
        await using var body = await response.Content.ReadAsStreamAsync();
        var received = new MemoryStream();
        var buffer = new byte[64 * 1024];
        int read;
        while ((read = await body.ReadAsync(buffer)) > 0)
        {
            received.Write(buffer, 0, read);
            // Slower than the gateway writes: its sends fill the socket and wait for room.
            if (received.Length < 1024 * 1024) await Task.Delay(5);
        }

        Assert.Equal(Pattern(size), received.ToArray());
    }

    [Theory]
    [InlineData("epoll")]
    [InlineData("runtime")]
    public async Task UpstreamAnswersAndCloses_TheBodyEndsWhereTheUpstreamClosed(string engine)
    {
        // A raw upstream: an answer without a length, and its close in the same moment.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        var serving = Task.Run(async () =>
        {
            for (var i = 0; i < 3; i++)
            {
                using var connection = await listener.AcceptAsync();
                var head = new byte[4096];
                var filled = 0;
                while (!Encoding.ASCII.GetString(head, 0, filled).Contains("\r\n\r\n")) filled += await connection.ReceiveAsync(head.AsMemory(filled));
                await connection.SendAsync("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"u8.ToArray());
                connection.Shutdown(SocketShutdown.Both);
            }
        });
        await using var gateway = await TestGateway.StartAsync(Config(engine, $"http://{listener.LocalEndPoint}"));

        for (var i = 0; i < 3; i++)
        {
            var answer = await gateway.Client.GetStringAsync("/x").WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal("until the end", answer);
        }
        await serving;
    }

    [Theory]
    [InlineData("epoll")]
    [InlineData("runtime")]
    public async Task NobodyListensUpstream_502WithoutWaitingForATimeout(string engine)
    {
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0)); // bound, never listening: every connect is refused
        await using var gateway = await TestGateway.StartAsync(Config(engine, $"http://{closed.LocalEndPoint}"));
        var started = TimeProvider.System.GetTimestamp();

        using var response = await gateway.Client.GetAsync("/x");

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        Assert.Contains("https://meshgate.dev/errors/upstream-unavailable", await response.Content.ReadAsStringAsync());
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(3), "a refused connect took as long as a timeout");
    }

    [Theory]
    [InlineData("epoll")]
    [InlineData("runtime")]
    public async Task TlsListener_ServesOverTheEngine(string engine)
    {
        var directory = TempDirectory.Create();
        using var ca = new TestCertificates(directory);
        var (_, cert, key) = ca.Issue("gateway");
        await using var upstream = await UpstreamAsync();
        await using var gateway = await TestGateway.StartAsync(Config(engine, upstream.Endpoint, $$"""
                tls: { cert: "{{cert}}", key: "{{key}}" }
            """));
        Assert.Equal("https", gateway.Url.Scheme);
        using var client = ca.TrustingClient(gateway.Url);

        for (var i = 0; i < 5; i++) Assert.Equal($"hello /tls/{i}", await client.GetStringAsync($"/tls/{i}"));
        Assert.Equal(Pattern(2_000_000), await client.GetByteArrayAsync("/big/2000000"));
    }
}

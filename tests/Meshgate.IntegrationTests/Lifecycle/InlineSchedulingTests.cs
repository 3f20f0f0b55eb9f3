using System.Net;
using Meshgate.TestKit;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Meshgate.IntegrationTests.Lifecycle;

/// <summary>
/// The gateway process runs the runtime's socket completions inline by default (docs/performance.md#runtime-settings):
/// Kestrel then runs its connections' work on the socket-event threads too. What must hold is that a request waiting on
/// its upstream holds no thread: everything else keeps being served, bodies whole. <c>=0</c> in the environment keeps
/// the thread pool, and the same must hold.
/// </summary>
[Trait("Runs", "meshgate")]
public sealed class InlineSchedulingTests
{
    [Theory]
    [InlineData(null, true)]
    [InlineData("0", false)]
    [InlineData("1", true)]
    public async Task GatewayRole_RequestHeldUpstream_OthersServedWholeAndItCompletes(string? variable, bool inline)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var upstream = await TestUpstream.StartAsync(app =>
        {
            app.MapGet("/hello", () => "hello");
            app.MapPost("/echo", async (HttpRequest request, HttpResponse response) =>
            {
                response.ContentType = "application/octet-stream";
                await request.Body.CopyToAsync(response.Body);
            });
            app.MapGet("/held", async () =>
            {
                held.TrySetResult();
                await release.Task;
                return "released";
            });
        });
        var dir = TempDirectory.Create();
        var config = Path.Combine(dir, "meshgate.yaml");
        await File.WriteAllTextAsync(config, $$"""
            listeners:
              - name: public
                address: 127.0.0.1:0
            admin:
              address: 127.0.0.1:0
            routes:
              - id: all
                match: { pathPrefix: / }
                cluster: app
            clusters:
              - id: app
                endpoints: ["{{upstream.Endpoint}}"]
            """);
        var environment = new Dictionary<string, string>();
        if (variable is not null) environment["DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS"] = variable;
        await using var process = MeshgateProcess.Start(["gateway", "-c", config], environment: environment);
        var urls = await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(60));
        using var client = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 8 }) { BaseAddress = urls[0], Timeout = TimeSpan.FromSeconds(30) };

        await process.CheckAsync(async () =>
        {
            var heldRequest = client.GetStringAsync("/held");
            await held.Task.WaitAsync(TimeSpan.FromSeconds(20));

            var body = new byte[64 * 1024];
            Random.Shared.NextBytes(body);
            var others = Enumerable.Range(0, 100).Select(async i =>
            {
                if (i % 2 == 0) return (await client.GetStringAsync("/hello")) == "hello";
                using var posted = await client.PostAsync("/echo", new ByteArrayContent(body));
                return posted.StatusCode == HttpStatusCode.OK && (await posted.Content.ReadAsByteArrayAsync()).AsSpan().SequenceEqual(body);
            });
            var answers = await Task.WhenAll(others).WaitAsync(TimeSpan.FromSeconds(30));
            Assert.All(answers, Assert.True);
            Assert.False(heldRequest.IsCompleted);

            release.SetResult();
            Assert.Equal("released", await heldRequest.WaitAsync(TimeSpan.FromSeconds(20)));
            Assert.Equal(inline, process.Output.Contains("Socket work runs inline"));
        });
    }
}

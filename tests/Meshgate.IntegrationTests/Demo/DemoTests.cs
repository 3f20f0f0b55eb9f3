using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Meshgate.TestKit;

namespace Meshgate.IntegrationTests.Demo;

/// <summary>`meshgate demo`, the README's first command, as a newcomer runs it.</summary>
[Trait("Runs", "meshgate")]
public sealed class DemoTests
{
    [Fact]
    public async Task Demo_ServesBothServices_AndShowsLoadBalancing()
    {
        await using var process = MeshgateProcess.Start("demo", "--port", "0", "--admin-port", "0");
        await process.CheckAsync(async () =>
        {
            var urls = await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));
            using var client = new HttpClient { BaseAddress = urls[0] };

            var instances = new List<string>();
            for (var i = 0; i < 4; i++)
            {
                using var response = await client.GetAsync("/service1");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal("Service 1 response", JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("message").GetString());
                instances.Add(response.Headers.GetValues("x-demo-instance").Single());
            }
            // Round-robin over two instances: they alternate.
            Assert.Equal(2, instances.Distinct().Count());
            Assert.NotEqual(instances[0], instances[1]);
            Assert.Equal(instances[0], instances[2]);
            Assert.Equal(instances[1], instances[3]);

            using var post = await client.PostAsJsonAsync("/service2", new { hello = "world", n = 3 });
            Assert.Equal(HttpStatusCode.OK, post.StatusCode);
            var body = JsonDocument.Parse(await post.Content.ReadAsStringAsync()).RootElement;
            Assert.Equal("Service 2 response", body.GetProperty("message").GetString());
            Assert.Equal("world", body.GetProperty("echo").GetProperty("hello").GetString());
            Assert.Equal(3, body.GetProperty("echo").GetProperty("n").GetInt32());
            Assert.StartsWith("service2-", post.Headers.GetValues("x-demo-instance").Single());

            using var wrongMethod = await client.GetAsync("/service2");
            Assert.Equal(HttpStatusCode.MethodNotAllowed, wrongMethod.StatusCode);
            Assert.Equal("application/problem+json", wrongMethod.Content.Headers.ContentType?.MediaType);

            using var admin = new HttpClient { BaseAddress = urls[1] };
            var explain = await admin.GetStringAsync("/admin/explain?method=GET&path=/service1");
            Assert.Contains("\"route\":\"service1\"", explain);

            // The demo's access log: a JSON line per request on stdout, the gateway's own 405 included.
            await Eventually.HoldsAsync(() => Task.FromResult(process.Output.Contains("\"route\":\"service2\",\"cluster\":\"service2\"", StringComparison.Ordinal)
                && process.Output.Contains("\"status\":405", StringComparison.Ordinal)), TimeSpan.FromSeconds(10), "access-log lines on stdout");
        });
    }

    [Fact]
    public async Task Demo_BadJson_Is400FromService()
    {
        await using var process = MeshgateProcess.Start("demo", "--port", "0", "--admin-port", "0");
        var urls = await process.WaitForListenersAsync(2, TimeSpan.FromSeconds(30));
        using var client = new HttpClient { BaseAddress = urls[0] };
        using var response = await client.PostAsync("/service2", new StringContent("{not json", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
    }
}

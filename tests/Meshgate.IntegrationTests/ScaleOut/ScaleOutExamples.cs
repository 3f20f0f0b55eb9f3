using System.Text.RegularExpressions;

namespace Meshgate.IntegrationTests.ScaleOut;

/// <summary>
/// The examples of docs/scale-out.md and deploy/, as the tests run them: read from the files, with only what cannot
/// be the same on a test machine (addresses and ports) replaced. Every replacement must find its text, so an edit of
/// the docs that the tests no longer cover fails here instead of going untested.
/// </summary>
internal static partial class ScaleOutExamples
{
    /// <summary>What the doc's gateway.yaml names that the tests replace.</summary>
    public const string ListenerAddress = "0.0.0.0:8080";
    public const string AdminAddress = "0.0.0.0:9901";
    public const string AdminToken = "change-me-to-a-long-random-string";
    public const string RedisConnection = "10.0.3.7:6379";
    public const string PartnerEndpoint = "http://10.0.1.5:8080";
    public const string CatalogEndpoint = "http://10.0.2.5:8080";

    /// <summary>The shared limit of the doc's `partner` policy.</summary>
    public const int PartnerLimit = 100;

    public static string Root { get; } = FindRoot();

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    public static string Doc => File.ReadAllText(PathOf("docs/scale-out.md")).ReplaceLineEndings("\n");

    /// <summary>The doc's ```yaml block that starts with "# gateway.yaml".</summary>
    public static string GatewayYaml()
    {
        var blocks = Fence().Matches(Doc).Where(m => m.Groups["lang"].Value == "yaml" && m.Groups["body"].Value.StartsWith("# gateway.yaml", StringComparison.Ordinal)).ToList();
        Assert.True(blocks.Count == 1, $"docs/scale-out.md has {blocks.Count} ```yaml blocks starting with '# gateway.yaml', not one");
        return blocks[0].Groups["body"].Value;
    }

    /// <summary>The doc's gateway.yaml for nodes on this machine: every node on ports 0, Redis and the upstreams the test started.</summary>
    public static string GatewayYamlForTest(string redis, string partner, string catalog)
    {
        var yaml = GatewayYaml();
        Assert.Contains($"limit: {PartnerLimit},", yaml);
        yaml = Replace(yaml, ListenerAddress, "127.0.0.1:0");
        yaml = Replace(yaml, AdminAddress, "127.0.0.1:0");
        yaml = Replace(yaml, RedisConnection, redis);
        // A loaded test machine can take longer than the doc's 50 ms; with the doc's onStoreFailure a slow Redis would
        // count on the node alone and the shared total would be off by the test machine's load, not the product.
        yaml = Replace(yaml, "timeout: 50ms", "timeout: 2s");
        yaml = Replace(yaml, PartnerEndpoint, partner);
        return Replace(yaml, CatalogEndpoint, catalog);
    }

    /// <summary>deploy/haproxy/haproxy.cfg, which the doc must show as it is.</summary>
    public static string HaproxyConfig()
    {
        var file = File.ReadAllText(PathOf("deploy/haproxy/haproxy.cfg")).ReplaceLineEndings("\n");
        var blocks = Fence().Matches(Doc).Where(m => m.Groups["lang"].Value == "haproxy").Select(m => m.Groups["body"].Value).ToList();
        Assert.True(blocks.Count == 1 && blocks[0] == file, "docs/scale-out.md must show deploy/haproxy/haproxy.cfg exactly, in one ```haproxy block");
        return file;
    }

    /// <summary>The HAProxy example on <paramref name="port"/> in front of these nodes (public and admin URL of each).</summary>
    public static string HaproxyConfigForTest(int port, IReadOnlyList<(Uri Public, Uri Admin)> nodes)
    {
        var config = Replace(HaproxyConfig(), "bind :8080", $"bind 127.0.0.1:{port}");
        var lines = config.Split('\n');
        for (var i = 0; i < nodes.Count; i++)
        {
            var at = Array.FindIndex(lines, l => l.TrimStart().StartsWith($"server gw{i + 1} ", StringComparison.Ordinal));
            Assert.True(at >= 0, $"haproxy.cfg has no server gw{i + 1}");
            lines[at] = Replace(Replace(lines[at], $"10.0.0.1{i + 1}:8080", $"127.0.0.1:{nodes[i].Public.Port}"), "port 9901", $"port {nodes[i].Admin.Port}");
        }
        Assert.DoesNotContain(lines, l => l.TrimStart().StartsWith($"server gw{nodes.Count + 1} ", StringComparison.Ordinal));
        return string.Join('\n', lines);
    }

    public static string Replace(string text, string old, string replacement)
    {
        Assert.True(text.Contains(old, StringComparison.Ordinal), $"the example no longer contains '{old}', which the test replaces:\n{text}");
        return text.Replace(old, replacement, StringComparison.Ordinal);
    }

    private static string FindRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Meshgate.slnx"))) return directory.FullName;
        }
        throw new InvalidOperationException($"no Meshgate.slnx above {AppContext.BaseDirectory}");
    }

    [GeneratedRegex(@"^```(?<lang>[a-z-]+)\n(?<body>.*?)^```$", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex Fence();
}

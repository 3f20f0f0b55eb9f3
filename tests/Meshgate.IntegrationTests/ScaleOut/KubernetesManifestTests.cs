using System.Globalization;
using Meshgate.Configuration.Parsing;
using Meshgate.TestKit;
using YamlDotNet.RepresentationModel;

namespace Meshgate.IntegrationTests.ScaleOut;

/// <summary>
/// deploy/kubernetes/ without a cluster: every manifest parses, the ConfigMap's config passes `meshgate validate`, the
/// probes call the admin listener's health endpoints, and the Service reaches the gateway listener and never the admin one.
/// </summary>
[Trait("Runs", "meshgate")]
public sealed class KubernetesManifestTests
{
    private const string Token = "a-test-admin-token-0123456789";

    private static readonly Dictionary<string, YamlMappingNode> Manifests = Load();

    private static Dictionary<string, YamlMappingNode> Load()
    {
        var manifests = new Dictionary<string, YamlMappingNode>();
        foreach (var file in Directory.GetFiles(ScaleOutExamples.PathOf("deploy/kubernetes"), "*.yaml").Order(StringComparer.Ordinal))
        {
            var stream = new YamlStream();
            using (var reader = new StreamReader(file)) stream.Load(reader);
            foreach (var document in stream.Documents)
            {
                var root = (YamlMappingNode)document.RootNode;
                Assert.False(string.IsNullOrEmpty(Text(root, "apiVersion")), $"{file}: apiVersion");
                manifests.Add($"{Text(root, "kind")}/{Text(root, "metadata", "name")}", root);
            }
        }
        return manifests;
    }

    private static YamlNode? Node(YamlNode node, params string[] path)
    {
        foreach (var key in path)
        {
            if (node is not YamlMappingNode map || !map.Children.TryGetValue(new YamlScalarNode(key), out var child)) return null;
            node = child;
        }
        return node;
    }

    private static string? Text(YamlNode node, params string[] path) => (Node(node, path) as YamlScalarNode)?.Value;

    private static IEnumerable<YamlMappingNode> Items(YamlNode node, params string[] path) =>
        (Node(node, path) as YamlSequenceNode)?.Children.Cast<YamlMappingNode>() ?? [];

    private static YamlMappingNode Container => Items(Manifests["Deployment/meshgate"], "spec", "template", "spec", "containers").Single();

    private static string ConfigYaml => Text(Manifests["ConfigMap/meshgate-config"], "data", "meshgate.yaml")!;

    private static int PortOf(string address) => int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);

    /// <summary>A probe's or Service's port: a number, or the name of one of the container's ports.</summary>
    private static int ContainerPort(string port) => int.TryParse(port, CultureInfo.InvariantCulture, out var number)
        ? number
        : int.Parse(Text(Items(Container, "ports").Single(p => Text(p, "name") == port), "containerPort")!, CultureInfo.InvariantCulture);

    [Fact]
    public void Manifests_AreADeploymentServiceAndConfigMap()
    {
        Assert.Equal(["ConfigMap/meshgate-config", "Deployment/meshgate", "Service/meshgate"], Manifests.Keys.Order(StringComparer.Ordinal));
        var labels = (YamlMappingNode)Node(Manifests["Deployment/meshgate"], "spec", "template", "metadata", "labels")!;
        foreach (var selector in new[] { Node(Manifests["Deployment/meshgate"], "spec", "selector", "matchLabels"), Node(Manifests["Service/meshgate"], "spec", "selector") })
        {
            Assert.All(((YamlMappingNode)selector!).Children, label => Assert.Equal(label.Value, labels.Children[label.Key]));
        }
    }

    [Fact]
    public async Task ConfigMapConfig_PassesMeshgateValidate()
    {
        var file = Path.Combine(TempDirectory.Create(), "meshgate.yaml");
        await File.WriteAllTextAsync(file, ConfigYaml);
        // The token the Deployment takes from its Secret, by the name the config's tokenEnv gives.
        var tokenEnv = ConfigReader.Read(ConfigYaml).Definition!.Admin.TokenEnv!;
        Assert.Contains(Items(Container, "env"), e => Text(e, "name") == tokenEnv && Text(e, "valueFrom", "secretKeyRef", "key") is not null);
        await using var validate = MeshgateProcess.Start(["validate", "-c", file], environment: new Dictionary<string, string> { [tokenEnv] = Token });
        var exit = await validate.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 0, $"meshgate validate exited {exit}:\n{validate.Output}");
    }

    [Fact]
    public void Deployment_RunsTheConfigMapsConfig_ProbesTheAdminHealthEndpoints_AsNonRootOnAReadOnlyRoot()
    {
        var definition = ConfigReader.Read(ConfigYaml).Definition!;
        var admin = PortOf(definition.Admin.Address);
        var pod = Node(Manifests["Deployment/meshgate"], "spec", "template", "spec")!;

        // -c names the ConfigMap's key where the ConfigMap is mounted.
        var args = ((YamlSequenceNode)Node(Container, "args")!).Children.Select(a => ((YamlScalarNode)a).Value!).ToList();
        Assert.Equal("gateway", args[0]);
        var path = args[args.IndexOf("-c") + 1];
        var volume = Items(pod, "volumes").Single(v => Text(v, "configMap", "name") == "meshgate-config");
        var mount = Items(Container, "volumeMounts").Single(m => Text(m, "name") == Text(volume, "name"));
        Assert.Equal(Text(mount, "mountPath") + "/meshgate.yaml", path);

        Assert.Equal("/admin/health/ready", Text(Container, "readinessProbe", "httpGet", "path"));
        Assert.Equal("/admin/health/live", Text(Container, "livenessProbe", "httpGet", "path"));
        Assert.Equal(admin, ContainerPort(Text(Container, "readinessProbe", "httpGet", "port")!));
        Assert.Equal(admin, ContainerPort(Text(Container, "livenessProbe", "httpGet", "port")!));
        // The kubelet probes from outside the pod: the admin listener must not be loopback-only.
        Assert.StartsWith("0.0.0.0:", definition.Admin.Address);

        Assert.NotNull(Text(Container, "resources", "requests", "cpu"));
        Assert.NotNull(Text(Container, "resources", "requests", "memory"));
        Assert.Equal("true", Text(pod, "securityContext", "runAsNonRoot"));
        Assert.Equal("false", Text(Container, "securityContext", "allowPrivilegeEscalation"));
        Assert.Equal("true", Text(Container, "securityContext", "readOnlyRootFilesystem"));
        Assert.True(PortOf(definition.Listeners.Single().Address!) >= 1024, "a non-root process without capabilities cannot bind below 1024");

        // Longer than the drain, or the kubelet kills requests the gateway is still finishing.
        var grace = int.Parse(Text(pod, "terminationGracePeriodSeconds")!, CultureInfo.InvariantCulture);
        Assert.True(TimeSpan.FromSeconds(grace) > definition.Shutdown.DrainTimeout, $"terminationGracePeriodSeconds {grace} vs drainTimeout {definition.Shutdown.DrainTimeout}");
    }

    [Fact]
    public void Service_TargetsTheGatewayListener_AndNotTheAdminPort()
    {
        var definition = ConfigReader.Read(ConfigYaml).Definition!;
        var ports = Items(Manifests["Service/meshgate"], "spec", "ports").ToList();
        Assert.NotEmpty(ports);
        Assert.All(ports, port => Assert.Equal(PortOf(definition.Listeners.Single().Address!), ContainerPort(Text(port, "targetPort")!)));
        Assert.DoesNotContain(ports, port => ContainerPort(Text(port, "targetPort")!) == PortOf(definition.Admin.Address) || Text(port, "port") == PortOf(definition.Admin.Address).ToString(CultureInfo.InvariantCulture));
    }
}

using Meshgate.Configuration.Model;
using Meshgate.Mesh.V1;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Meshgate.Mesh.ControlPlane;

/// <summary>A problem in the policies file: what is wrong, where (YAML path) and on which line.</summary>
public sealed record PolicyError(string Message, string Path, int Line)
{
    public override string ToString() => $"line {Line}: {Path}: {Message}";
}

/// <summary>
/// Reads the mesh-wide policies file (`--policies FILE`) into <see cref="MeshPolicies"/>, reporting every problem with
/// its path and line; a file with any error yields no policies, so the control plane never serves half a file.
/// <code>
/// services:
///   orders:
///     timeout: 2s
///     retries: 2
///     split: { v1: 90, v2: 10 }
///     allow:
///       - from: frontend
///         methods: [GET, POST]
///         pathPrefix: /orders
/// </code>
/// </summary>
public static class MeshPolicyFile
{
    public sealed record Result(MeshPolicies? Policies, IReadOnlyList<PolicyError> Errors);

    public static Result Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new Result(null, [new PolicyError($"cannot read the policies file: {e.Message}", path, 0)]);
        }
        return Parse(text);
    }

    public static Result Parse(string text)
    {
        var errors = new List<PolicyError>();
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            return new Result(null, [new PolicyError($"not valid YAML: {e.InnerException?.Message ?? e.Message}", "", (int)e.Start.Line)]);
        }
        var policies = new MeshPolicies();
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" }) return new Result(policies, []);
        if (stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            return new Result(null, [new PolicyError("expected a mapping with a 'services' key", "", Line(stream.Documents[0].RootNode))]);
        }
        foreach (var (key, value) in root.Children)
        {
            var name = ((YamlScalarNode)key).Value;
            if (name != "services")
            {
                errors.Add(new PolicyError($"unknown key '{name}' (expected 'services')", name ?? "", Line(key)));
                continue;
            }
            if (value is YamlScalarNode { Value: null or "" }) continue;
            if (value is not YamlMappingNode services)
            {
                errors.Add(new PolicyError("expected a mapping of service name to its policies", "services", Line(value)));
                continue;
            }
            foreach (var (serviceKey, serviceNode) in services.Children)
            {
                var service = ((YamlScalarNode)serviceKey).Value ?? "";
                var policy = ParseService(service, serviceNode, $"services.{service}", errors);
                if (policy is not null) policies.Services.Add(policy);
            }
        }
        var sorted = policies.Services.OrderBy(s => s.Service, StringComparer.Ordinal).ToList();
        policies.Services.Clear();
        policies.Services.AddRange(sorted);
        return errors.Count == 0 ? new Result(policies, []) : new Result(null, errors);
    }

    private static ServicePolicy? ParseService(string service, YamlNode node, string path, List<PolicyError> errors)
    {
        if (node is not YamlMappingNode map)
        {
            errors.Add(new PolicyError("expected a mapping with timeout, retries, split, allow", path, Line(node)));
            return null;
        }
        var policy = new ServicePolicy { Service = service };
        foreach (var (keyNode, value) in map.Children)
        {
            var key = ((YamlScalarNode)keyNode).Value ?? "";
            var at = $"{path}.{key}";
            switch (key)
            {
                case "timeout":
                    if (Scalar(value) is { } t && Duration.TryParse(t, out var timeout) && timeout > TimeSpan.Zero) policy.TimeoutMs = (long)timeout.TotalMilliseconds;
                    else errors.Add(new PolicyError($"expected a positive duration with a unit (250ms, 2s, 1m), got '{Scalar(value)}'", at, Line(value)));
                    break;
                case "retries":
                    if (Scalar(value) is { } r && int.TryParse(r, out var retries) && retries is >= 0 and <= 10) policy.RetryAttempts = retries;
                    else errors.Add(new PolicyError($"expected a whole number of retries from 0 to 10, got '{Scalar(value)}'", at, Line(value)));
                    break;
                case "split":
                    ParseSplit(policy, value, at, errors);
                    break;
                case "allow":
                    ParseAllow(policy, service, value, at, errors);
                    break;
                default:
                    errors.Add(new PolicyError($"unknown key '{key}' (expected timeout, retries, split, allow)", at, Line(keyNode)));
                    break;
            }
        }
        return policy;
    }

    private static void ParseSplit(ServicePolicy policy, YamlNode node, string path, List<PolicyError> errors)
    {
        if (node is not YamlMappingNode map || map.Children.Count == 0)
        {
            errors.Add(new PolicyError("expected a mapping of version label to weight, e.g. { v1: 90, v2: 10 }", path, Line(node)));
            return;
        }
        var total = 0;
        foreach (var (keyNode, value) in map.Children)
        {
            var version = ((YamlScalarNode)keyNode).Value ?? "";
            if (Scalar(value) is { } w && int.TryParse(w, out var weight) && weight >= 0)
            {
                policy.Split.Add(new VersionWeight { Version = version, Weight = weight });
                total += weight;
            }
            else errors.Add(new PolicyError($"expected a weight that is a whole number >= 0, got '{Scalar(value)}'", $"{path}.{version}", Line(value)));
        }
        if (total == 0 && policy.Split.Count == map.Children.Count) errors.Add(new PolicyError("the weights add up to 0: no version would get traffic", path, Line(node)));
    }

    private static void ParseAllow(ServicePolicy policy, string callee, YamlNode node, string path, List<PolicyError> errors)
    {
        if (node is not YamlSequenceNode list)
        {
            errors.Add(new PolicyError("expected a list of rules, e.g. - from: frontend", path, Line(node)));
            return;
        }
        for (var i = 0; i < list.Children.Count; i++)
        {
            var at = $"{path}[{i}]";
            if (list.Children[i] is not YamlMappingNode map)
            {
                errors.Add(new PolicyError("expected a rule with from, methods, pathPrefix", at, Line(list.Children[i])));
                continue;
            }
            var rule = new AllowRule { CalleeService = callee };
            foreach (var (keyNode, value) in map.Children)
            {
                var key = ((YamlScalarNode)keyNode).Value ?? "";
                switch (key)
                {
                    case "from":
                        rule.CallerService = Scalar(value) ?? "";
                        break;
                    case "methods" when value is YamlSequenceNode methods:
                        foreach (var m in methods.Children)
                        {
                            if (Scalar(m) is { Length: > 0 } method && method.All(char.IsAsciiLetterUpper)) rule.Methods.Add(method);
                            else errors.Add(new PolicyError($"expected an HTTP method in capitals (GET, POST), got '{Scalar(m)}'", $"{at}.methods", Line(m)));
                        }
                        break;
                    case "methods":
                        errors.Add(new PolicyError("expected a list of HTTP methods, e.g. [GET, POST]", $"{at}.methods", Line(value)));
                        break;
                    case "pathPrefix":
                        if (Scalar(value) is { } prefix && prefix.StartsWith('/')) rule.PathPrefix = prefix;
                        else errors.Add(new PolicyError($"expected a path starting with '/', got '{Scalar(value)}'", $"{at}.pathPrefix", Line(value)));
                        break;
                    default:
                        errors.Add(new PolicyError($"unknown key '{key}' (expected from, methods, pathPrefix)", $"{at}.{key}", Line(keyNode)));
                        break;
                }
            }
            if (string.IsNullOrWhiteSpace(rule.CallerService)) errors.Add(new PolicyError("'from' (the calling service) is required", $"{at}.from", Line(map)));
            policy.Allow.Add(rule);
        }
    }

    private static string? Scalar(YamlNode node) => node is YamlScalarNode s ? s.Value : null;

    private static int Line(YamlNode node) => (int)node.Start.Line;
}

using System.Reflection;
using System.Text;
using System.Text.Json.Nodes;
using Meshgate.Configuration.Compilation;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;
using Meshgate.Configuration.Validation;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Meshgate.Configuration.Sources.Etcd;

/// <summary>The config as etcd holds it, assembled into one text, or why it cannot be.</summary>
/// <param name="Config">The assembled YAML and its revision (<see cref="ConfigCompiler.VersionOf"/> of the text).</param>
/// <param name="Errors">Keys that do not fit the layout (not YAML, unknown key, id that differs from the key); then Config.Yaml lists the keys as they are.</param>
public sealed record AssembledConfig(StoredConfig Config, IReadOnlyList<ConfigError> Errors, bool Empty);

/// <summary>
/// How one config is kept in etcd under a prefix, one key per object, so a change to one route is a change to one key
/// and `etcdctl get --prefix` shows which objects exist:
/// <c>settings</c> (every top-level key that is not a list of routes or clusters or a section of named policies),
/// <c>routes/&lt;id&gt;</c>, <c>clusters/&lt;id&gt;</c> and <c>policies/&lt;section&gt;/&lt;name&gt;</c>; each value is the
/// object's YAML. Reading assembles the keys into one text in a fixed order (settings, routes and clusters by id,
/// policy sections and names in key order), so equal keys give equal text and equal revisions on every node.
/// A list's order is not kept: route priority comes from <c>order</c> and match specificity, never list position.
/// </summary>
public static class EtcdConfigLayout
{
    public const string SettingsKey = "settings";
    public const string RoutesFolder = "routes/";
    public const string ClustersFolder = "clusters/";
    public const string PoliciesFolder = "policies/";

    /// <summary>Top-level keys whose value is a map of named policies (authentication, rateLimits, ...), from the model.</summary>
    private static readonly HashSet<string> PolicySections = typeof(MeshgateDefinition).GetProperties(BindingFlags.Public | BindingFlags.Instance)
        .Where(p => p.PropertyType.IsGenericType && p.PropertyType.GetGenericTypeDefinition() == typeof(Dictionary<,>))
        .Select(ConfigReader.KeyOf)
        .ToHashSet(StringComparer.Ordinal);

    /// <summary>The keys (relative to the prefix) and YAML values that hold <paramref name="definition"/>.</summary>
    public static SortedDictionary<string, string> Split(MeshgateDefinition definition)
    {
        var keys = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var json = (JsonObject)DefinitionJson.ToStoredJson(definition)!;
        var settings = new JsonObject();
        foreach (var (name, value) in json.ToList())
        {
            json.Remove(name);
            if (name is "routes" or "clusters" && value is JsonArray list)
            {
                foreach (var item in list.ToList())
                {
                    list.Remove(item);
                    keys[name + "/" + item!["id"]!.GetValue<string>()] = Text(item);
                }
            }
            else if (PolicySections.Contains(name) && value is JsonObject policies)
            {
                foreach (var (policy, body) in policies.ToList())
                {
                    policies.Remove(policy);
                    keys[PoliciesFolder + name + "/" + policy] = Text(body);
                }
            }
            else
            {
                settings[name] = value;
            }
        }
        keys[SettingsKey] = Text(settings);
        return keys;
    }

    /// <summary>
    /// One config text from the keys under the prefix (names relative to it): the same keys and values give the same
    /// text, and so the same revision, on every node. A value's own layout (flow or block style, key order) is kept.
    /// </summary>
    public static AssembledConfig Assemble(IReadOnlyList<KeyValuePair<string, string>> keys, string source)
    {
        if (keys.Count == 0) return new AssembledConfig(new StoredConfig("", ConfigCompiler.VersionOf("")), [], Empty: true);

        var errors = new List<ConfigError>();
        var root = new YamlMappingNode();
        var routes = new YamlSequenceNode();
        var clusters = new YamlSequenceNode();
        var sections = new SortedDictionary<string, YamlMappingNode>(StringComparer.Ordinal);
        foreach (var (key, value) in keys.OrderBy(k => k.Key, StringComparer.Ordinal))
        {
            if (Parse(key, value, source, errors) is not { } node) continue;
            if (key == SettingsKey)
            {
                if (node is YamlScalarNode { Value: null or "" or "~" or "null" }) continue;
                if (node is not YamlMappingNode settings)
                {
                    errors.Add(KeyError(key, "expected a map of top-level settings (listeners, admin, logging, ...)", source));
                    continue;
                }
                foreach (var (name, setting) in settings)
                {
                    var text = ((YamlScalarNode)name).Value ?? "";
                    if (text is "routes" or "clusters" || PolicySections.Contains(text))
                        errors.Add(KeyError(key, $"'{text}' does not belong in the settings key: each of its objects has a key of its own ({Folder(text)}<name>)", source));
                    else root.Add(name, setting);
                }
            }
            else if (key.StartsWith(RoutesFolder, StringComparison.Ordinal)) AddListed(routes, key, key[RoutesFolder.Length..], node, source, errors);
            else if (key.StartsWith(ClustersFolder, StringComparison.Ordinal)) AddListed(clusters, key, key[ClustersFolder.Length..], node, source, errors);
            else if (key.StartsWith(PoliciesFolder, StringComparison.Ordinal) && key[PoliciesFolder.Length..].Split('/') is [var section, var name] && PolicySections.Contains(section) && name.Length > 0)
            {
                if (!sections.TryGetValue(section, out var policies)) sections[section] = policies = new YamlMappingNode();
                policies.Add(new YamlScalarNode(name), node);
            }
            else
            {
                errors.Add(KeyError(key, $"not a key of the config layout: expected {SettingsKey}, {RoutesFolder}<id>, {ClustersFolder}<id> or {PoliciesFolder}<section>/<name> with a section of {string.Join(", ", PolicySections.Order(StringComparer.Ordinal))}", source));
            }
        }
        if (errors.Count > 0)
        {
            // No config to show: the keys as they are, so a revision still changes with every change to them.
            var listing = new StringBuilder();
            foreach (var (key, value) in keys.OrderBy(k => k.Key, StringComparer.Ordinal)) listing.Append("# key ").Append(key).Append('\n').Append(value).Append('\n');
            var text = listing.ToString();
            return new AssembledConfig(new StoredConfig(text, ConfigCompiler.VersionOf(text)), errors, Empty: false);
        }
        if (routes.Children.Count > 0) root.Add("routes", routes);
        if (clusters.Children.Count > 0) root.Add("clusters", clusters);
        foreach (var (section, policies) in sections) root.Add(section, policies);
        var yaml = root.Children.Count == 0 ? "{}\n" : YamlNodes.ToText(root);
        return new AssembledConfig(new StoredConfig(yaml, ConfigCompiler.VersionOf(yaml)), [], Empty: false);
    }

    private static string Folder(string section) => section switch { "routes" => RoutesFolder, "clusters" => ClustersFolder, _ => PoliciesFolder + section + "/" };

    private static void AddListed(YamlSequenceNode list, string key, string id, YamlNode node, string source, List<ConfigError> errors)
    {
        if (node is not YamlMappingNode mapping || id.Length == 0 || id.Contains('/'))
        {
            errors.Add(KeyError(key, id.Length == 0 || id.Contains('/') ? "expected one id after the folder" : "expected a map (one object)", source));
            return;
        }
        var idKey = new YamlScalarNode("id");
        if (mapping.Children.TryGetValue(idKey, out var written))
        {
            if ((written as YamlScalarNode)?.Value != id)
            {
                errors.Add(KeyError(key, $"holds id '{(written as YamlScalarNode)?.Value}', which is not the key's id '{id}'", source));
                return;
            }
            list.Add(mapping);
            return;
        }
        // The key names the object; its value may leave the id out.
        var withId = new YamlMappingNode { { idKey, new YamlScalarNode(id) } };
        foreach (var (name, value) in mapping) withId.Add(name, value);
        list.Add(withId);
    }

    private static YamlNode? Parse(string key, string value, string source, List<ConfigError> errors)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(value));
        }
        catch (Exception e) when (e is YamlException or InvalidOperationException)
        {
            errors.Add(KeyError(key, $"not valid YAML: {e.InnerException?.Message ?? e.Message}", source));
            return null;
        }
        if (stream.Documents.Count != 1)
        {
            errors.Add(KeyError(key, stream.Documents.Count == 0 ? "the value is empty" : "expected one YAML document, found several", source));
            return null;
        }
        return stream.Documents[0].RootNode;
    }

    private static ConfigError KeyError(string key, string message, string source) => new(key, message) { File = source };

    private static string Text(JsonNode? node) => YamlNodes.ToText(YamlNodes.FromJson(node?.DeepClone()));
}

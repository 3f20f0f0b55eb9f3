using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;
using Meshgate.Configuration.Validation;
using YamlDotNet.RepresentationModel;

namespace Meshgate.Admin.Api.ConfigWrites;

/// <summary>
/// One kind of object the admin API can read and write on its own: routes and clusters (lists with an id), and the
/// named policies (maps by name). Each knows where its objects sit in the config and how to replace or remove one.
/// </summary>
internal abstract class ConfigObjectKind
{
    /// <summary>The config section (its YAML key): routes, clusters, cors, rateLimits...</summary>
    public abstract string Section { get; }

    /// <summary>How a message names one object: "route", "CORS policy".</summary>
    public abstract string What { get; }

    public abstract object? Find(MeshgateDefinition definition, string name);

    /// <summary>The whole section: the list or the map.</summary>
    public abstract object All(MeshgateDefinition definition);

    /// <summary>The object's path in the config as validators report it (routes[3], cors.public); null when absent.</summary>
    public abstract string? PathOf(MeshgateDefinition definition, string name);

    /// <summary>Binds a request body; an id given in the body must be the one in the URL.</summary>
    public abstract (object? Value, IReadOnlyList<ConfigError> Errors) Read(YamlNode body, string name);

    /// <summary>The config with the object replaced (in place, keeping its position) or added (at the end).</summary>
    public abstract MeshgateDefinition Put(MeshgateDefinition definition, string name, object value);

    /// <summary>The config without the object; null when there is none of that name.</summary>
    public abstract MeshgateDefinition? Delete(MeshgateDefinition definition, string name);

    public static readonly ConfigObjectKind Routes = new ListKind<RouteDefinition>("routes", "route", d => d.Routes, (d, list) => d with { Routes = list }, r => r.Id, (r, id) => r with { Id = id });

    public static readonly ConfigObjectKind Clusters = new ListKind<ClusterDefinition>("clusters", "cluster", d => d.Clusters, (d, list) => d with { Clusters = list }, c => c.Id, (c, id) => c with { Id = id });

    /// <summary>The named-policy sections, by the key they have in the YAML (and in /admin/policies/{section}/{name}).</summary>
    public static readonly IReadOnlyDictionary<string, ConfigObjectKind> Policies = new ConfigObjectKind[]
    {
        new MapKind<AuthenticationProviderDefinition>("authentication", "authentication provider", d => d.Authentication, (d, map) => d with { Authentication = map }),
        new MapKind<AuthorizationPolicyDefinition>("authorization", "authorization policy", d => d.Authorization, (d, map) => d with { Authorization = map }),
        new MapKind<CorsPolicyDefinition>("cors", "CORS policy", d => d.Cors, (d, map) => d with { Cors = map }),
        new MapKind<ResiliencePolicyDefinition>("resilience", "resilience policy", d => d.Resilience, (d, map) => d with { Resilience = map }),
        new MapKind<CachePolicyDefinition>("caches", "cache policy", d => d.Caches, (d, map) => d with { Caches = map }),
        new MapKind<RateLimitPolicyDefinition>("rateLimits", "rate-limit policy", d => d.RateLimits, (d, map) => d with { RateLimits = map }),
    }.ToDictionary(k => k.Section, StringComparer.OrdinalIgnoreCase);

    private sealed class ListKind<T>(string section, string what, Func<MeshgateDefinition, List<T>> list, Func<MeshgateDefinition, List<T>, MeshgateDefinition> with,
        Func<T, string?> idOf, Func<T, string, T> withId) : ConfigObjectKind where T : class
    {
        public override string Section => section;
        public override string What => what;

        private int IndexOf(MeshgateDefinition definition, string id) => list(definition).FindIndex(item => string.Equals(idOf(item), id, StringComparison.OrdinalIgnoreCase));

        public override object? Find(MeshgateDefinition definition, string name) => IndexOf(definition, name) is var i and >= 0 ? list(definition)[i] : null;

        public override object All(MeshgateDefinition definition) => list(definition);

        public override string? PathOf(MeshgateDefinition definition, string name) => IndexOf(definition, name) is var i and >= 0 ? $"{section}[{i}]" : null;

        public override (object? Value, IReadOnlyList<ConfigError> Errors) Read(YamlNode body, string name)
        {
            // The URL names the object, so the body may leave its required id out.
            if (body is YamlMappingNode mapping && !mapping.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == "id")) mapping.Add("id", name);
            var (value, errors) = ConfigReader.ReadObject<T>(body);
            if (value is null) return (null, errors);
            if (idOf(value) is { } id && !string.Equals(id, name, StringComparison.Ordinal))
            {
                return (null, [new ConfigError("id", $"'{id}' is not the {what} id in the URL ('{name}'); leave id out or make them equal (to rename, DELETE the old id and PUT the new)")]);
            }
            return (withId(value, name), []);
        }

        public override MeshgateDefinition Put(MeshgateDefinition definition, string name, object value)
        {
            var items = new List<T>(list(definition));
            var i = IndexOf(definition, name);
            if (i >= 0) items[i] = (T)value;
            else items.Add((T)value);
            return with(definition, items);
        }

        public override MeshgateDefinition? Delete(MeshgateDefinition definition, string name)
        {
            var i = IndexOf(definition, name);
            if (i < 0) return null;
            var items = new List<T>(list(definition));
            items.RemoveAt(i);
            return with(definition, items);
        }
    }

    private sealed class MapKind<T>(string section, string what, Func<MeshgateDefinition, Dictionary<string, T>> map, Func<MeshgateDefinition, Dictionary<string, T>, MeshgateDefinition> with)
        : ConfigObjectKind where T : class
    {
        public override string Section => section;
        public override string What => what;

        public override object? Find(MeshgateDefinition definition, string name) => map(definition).GetValueOrDefault(name);

        public override object All(MeshgateDefinition definition) => map(definition);

        public override string? PathOf(MeshgateDefinition definition, string name) =>
            map(definition).Keys.FirstOrDefault(k => string.Equals(k, name, StringComparison.OrdinalIgnoreCase)) is { } key ? $"{section}.{key}" : null;

        public override (object? Value, IReadOnlyList<ConfigError> Errors) Read(YamlNode body, string name)
        {
            var (value, errors) = ConfigReader.ReadObject<T>(body);
            return (value, errors);
        }

        public override MeshgateDefinition Put(MeshgateDefinition definition, string name, object value) =>
            with(definition, new Dictionary<string, T>(map(definition), StringComparer.OrdinalIgnoreCase) { [name] = (T)value });

        public override MeshgateDefinition? Delete(MeshgateDefinition definition, string name)
        {
            var items = new Dictionary<string, T>(map(definition), StringComparer.OrdinalIgnoreCase);
            return items.Remove(name) ? with(definition, items) : null;
        }
    }
}

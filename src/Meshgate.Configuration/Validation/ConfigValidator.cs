using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>
/// Runs every definition validator and the checks between sections, and returns all problems at once.
/// The admin API and <c>meshgate validate</c> use the same entry point as loading does.
/// </summary>
public static class ConfigValidator
{
    public static IReadOnlyList<ConfigError> Validate(MeshgateDefinition definition, string baseDirectory)
    {
        var context = new ValidationContext(baseDirectory);

        if (definition.Listeners.Count == 0)
        {
            context.Error("listeners", "at least one listener is required, e.g. listeners: [{ name: public, address: 0.0.0.0:8080 }]");
        }
        ListenerValidator.Validate(definition.Listeners, context);
        AdminValidator.Validate(definition.Admin, context);
        CheckListenerAddressesDistinct(definition, context);
        CheckRouteListeners(definition, context);

        for (var i = 0; i < definition.TrustedProxies.Count; i++)
        {
            if (!Addressing.TryParseNetwork(definition.TrustedProxies[i], out _))
            {
                context.Error($"trustedProxies[{i}]", $"'{definition.TrustedProxies[i]}' is not an address or CIDR (e.g. 10.0.0.0/8, 192.168.1.7, ::1/128)");
            }
        }

        ClusterValidator.Validate(definition.Clusters, definition.Mesh, context);
        RouteValidator.Validate(definition.Routes, definition.Clusters, context);
        AuthenticationValidator.Validate(definition, context);
        AuthorizationValidator.Validate(definition, context);
        CorsValidator.Validate(definition.Cors, definition.Routes, context);
        TrafficValidator.Validate(definition.Routes, definition.Clusters, context);
        AccessLogValidator.Validate(definition.AccessLog, context);
        TracingValidator.Validate(definition.Tracing, context);
        MetricsValidator.Validate(definition.Metrics, context);
        ResilienceValidator.Validate(definition, context);
        CacheValidator.Validate(definition.Caches, definition.Routes, definition.Stores.Redis, context);
        RateLimitValidator.Validate(definition, context);
        MeshValidator.Validate(definition.Mesh, context);
        MeshValidator.ValidateListeners(definition, context);

        if (definition.Shutdown.DrainTimeout < TimeSpan.Zero)
        {
            context.Error("shutdown.drainTimeout", "must not be negative");
        }
        if (definition.Sockets is SocketEngine.Epoll or SocketEngine.Uring && !OperatingSystem.IsLinux())
        {
            var engine = definition.Sockets == SocketEngine.Epoll ? "epoll" : "uring";
            context.Error("sockets", $"{engine} is Linux's; on {System.Runtime.InteropServices.RuntimeInformation.OSDescription} use auto (the default) or runtime");
        }
        return context.Errors;
    }

    private static void CheckRouteListeners(MeshgateDefinition definition, ValidationContext context)
    {
        var names = definition.Listeners.Select(l => l.Name).OfType<string>().ToList();
        for (var r = 0; r < definition.Routes.Count; r++)
        {
            if (definition.Routes[r].Match?.Listeners is not { } listeners) continue;
            var path = $"routes[{r}].match.listeners";
            if (listeners.Count == 0) context.Error(path, "an empty list matches nothing; leave listeners out to match every listener");
            for (var i = 0; i < listeners.Count; i++)
            {
                if (!names.Contains(listeners[i], StringComparer.OrdinalIgnoreCase)) context.UnknownReference($"{path}[{i}]", "listener", listeners[i], names, "no listeners are defined");
            }
        }
    }

    private static void CheckListenerAddressesDistinct(MeshgateDefinition definition, ValidationContext context)
    {
        var seen = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < definition.Listeners.Count; i++)
        {
            var address = definition.Listeners[i].Address;
            if (address is null || address.EndsWith(":0", StringComparison.Ordinal)) continue;
            if (!seen.TryAdd(address, $"listeners[{i}]"))
            {
                context.Error($"listeners[{i}].address", $"'{address}' is already used by {seen[address]}");
            }
        }
        if (definition.Admin.Address is { } admin && seen.TryGetValue(admin, out var owner))
        {
            context.Error("admin.address", $"'{admin}' is already used by {owner}; the admin API needs its own listener");
        }
    }

    /// <summary>Reports ids that appear more than once; returns the set of ids.</summary>
    internal static HashSet<string> CheckUniqueIds<T>(IReadOnlyList<T> items, Func<T, string?> id, string section, ValidationContext context)
    {
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (var i = 0; i < items.Count; i++)
        {
            var value = id(items[i]);
            if (value is null) continue;
            if (value.Length == 0)
            {
                context.Error($"{section}[{i}]", "the id must not be empty");
            }
            else if (!seen.TryAdd(value, i))
            {
                context.Error($"{section}[{i}]", $"duplicate id '{value}' (also {section}[{seen[value]}])");
            }
        }
        return new HashSet<string>(seen.Keys, StringComparer.OrdinalIgnoreCase);
    }
}

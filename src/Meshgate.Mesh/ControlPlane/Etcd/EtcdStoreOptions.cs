using System.Globalization;

namespace Meshgate.Mesh.ControlPlane.Etcd;

/// <summary>Where the etcd store lives: `--store etcd://host:port[,host:port...]` and `--etcd-prefix`.</summary>
public sealed record EtcdStoreOptions
{
    /// <summary>The members' client endpoints, as host:port.</summary>
    public required IReadOnlyList<string> Endpoints { get; init; }

    /// <summary>Every key the control plane writes starts with this; one prefix is one mesh.</summary>
    public string Prefix { get; init; } = "/meshgate/";

    /// <summary>How long one call to etcd may take before a registration fails as Unavailable.</summary>
    public TimeSpan CallTimeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>How often an unreachable etcd is tried again.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The endpoints as etcd URLs, for messages: etcd://a:2379,b:2379.</summary>
    public string Display => "etcd://" + string.Join(",", Endpoints);

    /// <summary>Parses `etcd://host:port[,host:port...]`; on failure <paramref name="error"/> says what is expected.</summary>
    public static bool TryParse(string text, out IReadOnlyList<string> endpoints, out string error)
    {
        endpoints = [];
        error = $"expected etcd://host:port[,host:port...] (e.g. etcd://127.0.0.1:2379), got '{text}'";
        const string scheme = "etcd://";
        if (!text.StartsWith(scheme, StringComparison.Ordinal) || text.Length == scheme.Length) return false;
        var list = new List<string>();
        foreach (var part in text[scheme.Length..].Split(','))
        {
            var colon = part.LastIndexOf(':');
            if (colon <= 0) return false;
            var host = part[..colon];
            if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
            if (host.Length == 0 || host.Any(c => char.IsWhiteSpace(c) || c is '/' or '?' or '#' or '@')) return false;
            if (!int.TryParse(part[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535) return false;
            list.Add(part);
        }
        endpoints = list;
        error = "";
        return true;
    }

    /// <summary>A prefix is absolute and ends with '/', so one mesh's keys never share a prefix with another's.</summary>
    public static string? ValidatePrefix(string prefix) =>
        prefix.StartsWith('/') && prefix.EndsWith('/') && prefix.Length > 1 && !prefix.Any(char.IsWhiteSpace)
            ? null
            : $"expected a key prefix that starts and ends with '/' (e.g. /meshgate/), got '{prefix}'";
}

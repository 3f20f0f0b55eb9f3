using System.CommandLine;
using Meshgate.Configuration.Sources.Etcd;
using Meshgate.Mesh.ControlPlane.Etcd;

namespace Meshgate.Commands;

/// <summary>`--etcd etcd://host:port[,...]` and its prefix option, shared by `gateway` and `config push/pull`.</summary>
internal static class EtcdConfigOptions
{
    public static Option<string?> Etcd(string description) => new("--etcd") { Description = description };

    public static Option<string> Prefix(string name) => new(name)
    {
        Description = "Key prefix under which the gateway config lives in etcd (one prefix, one config).",
        DefaultValueFactory = _ => EtcdConfigStore.DefaultPrefix,
    };

    /// <summary>The store for the options, or null after printing what is wrong with them.</summary>
    public static EtcdConfigStore? Store(string url, string prefix, string optionName, TextWriter error)
    {
        if (!EtcdStoreOptions.TryParse(url, out var endpoints, out var urlError))
        {
            error.WriteLine($"--etcd: {urlError}");
            return null;
        }
        if (EtcdStoreOptions.ValidatePrefix(prefix) is { } prefixError)
        {
            error.WriteLine($"{optionName}: {prefixError}");
            return null;
        }
        // Relative paths in the config (certificates, token files) are resolved against the working directory.
        return new EtcdConfigStore(endpoints, prefix, Directory.GetCurrentDirectory());
    }
}

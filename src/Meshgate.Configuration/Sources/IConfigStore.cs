namespace Meshgate.Configuration.Sources;

/// <summary>The whole config as a store holds it, and its revision.</summary>
/// <param name="Revision">
/// Changes whenever the stored config changes, and equals the <see cref="ConfigSnapshot.Version"/> of the snapshot
/// compiled from <paramref name="Yaml"/> (<see cref="Compilation.ConfigCompiler.VersionOf"/> of the text), so the
/// running config's version is the revision admin API clients see and send back in If-Match.
/// </param>
public sealed record StoredConfig(string Yaml, string Revision);

/// <summary>The outcome of <see cref="IConfigStore.WriteAsync"/>.</summary>
/// <param name="Written">False when the store no longer held the expected revision; nothing was written.</param>
/// <param name="Current">The store's config after the call: the new one when written, else the one it holds.</param>
public sealed record ConfigStoreWrite(bool Written, StoredConfig Current);

/// <summary>
/// Where the admin write API keeps the config: the config file, memory for a config that has no file, and (next)
/// etcd. Reads the whole config; writes it whole, only if nobody wrote since the revision the writer read.
/// </summary>
public interface IConfigStore
{
    /// <summary>Shown in error messages and logs: the file path, "memory", an etcd prefix.</summary>
    string Name { get; }

    /// <summary>Where relative paths in the config (certificates, token files) are resolved.</summary>
    string BaseDirectory { get; }

    /// <summary>True when a write outlives the process (a file, etcd); false for memory.</summary>
    bool Persistent { get; }

    Task<StoredConfig> ReadAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Compare and swap: replaces the stored config with <paramref name="yaml"/> if it still has
    /// <paramref name="expectedRevision"/>. Of two writers with the same expected revision exactly one succeeds.
    /// </summary>
    Task<ConfigStoreWrite> WriteAsync(string yaml, string expectedRevision, CancellationToken cancellationToken = default);
}

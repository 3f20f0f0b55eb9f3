using System.Text.RegularExpressions;
using Meshgate.Configuration;
using Meshgate.Configuration.Model;
using Meshgate.Configuration.Parsing;
using Meshgate.Configuration.Sources;
using Meshgate.Configuration.Validation;
using Meshgate.Proxy.Pipeline;

namespace Meshgate.Admin.Api.ConfigWrites;

/// <summary>What became of a write; the endpoint turns it into a response and an audit line.</summary>
/// <param name="Outcome">applied, conflict, invalid, not-found, store-unavailable or store-error (as in the audit line).</param>
/// <param name="Revision">The revision serving after the call: the new one when applied, else the unchanged one.</param>
/// <param name="Errors">For invalid: messages by path, relative to the object written when inside it.</param>
/// <param name="Unavailable">For store-unavailable: which store could not be reached, and why.</param>
internal sealed record WriteResult(string Outcome, string OldRevision, string Revision, bool Created = false, string? Detail = null,
    IDictionary<string, string[]>? Errors = null, ConfigStoreUnavailableException? Unavailable = null);

/// <summary>
/// Applies one object's PUT or DELETE as a whole new config: the running definition with the object replaced or removed
/// is written out, read back, validated and compiled exactly as a reload would be, stored with compare-and-swap, and
/// published through the reloader. All of it runs under the reloader's lock, so a file-change reload or another write
/// cannot slip in between the revision check and the publish.
/// </summary>
internal sealed partial class ConfigObjectWriter(ConfigReloader reloader, IConfigStore store)
{
    public IConfigStore Store => store;

    public Task<WriteResult> PutAsync(ConfigObjectKind kind, string name, object value, string expectedRevision, CancellationToken cancellationToken) =>
        ChangeAsync(kind, name, expectedRevision, "PUT", definition => kind.Put(definition, name, value), cancellationToken);

    public Task<WriteResult> DeleteAsync(ConfigObjectKind kind, string name, string expectedRevision, CancellationToken cancellationToken) =>
        ChangeAsync(kind, name, expectedRevision, "DELETE", definition => kind.Delete(definition, name), cancellationToken);

    private Task<WriteResult> ChangeAsync(ConfigObjectKind kind, string name, string expectedRevision, string method, Func<MeshgateDefinition, MeshgateDefinition?> edit, CancellationToken cancellationToken) =>
        reloader.ChangeAsync<WriteResult>($"admin API {method} {kind.Section}/{name}", async (running, cancel) =>
        {
            var revision = running.Version;
            if (expectedRevision != revision)
            {
                return (null, new WriteResult("conflict", revision, revision,
                    Detail: $"The config changed since revision {expectedRevision} was read; it is now at revision {revision}. GET the object again, reapply your change and send If-Match: \"{revision}\"."));
            }
            var created = kind.Find(running.Definition, name) is null;
            if (edit(running.Definition) is not { } next)
            {
                return (null, new WriteResult("not-found", revision, revision, Detail: $"There is no {kind.What} '{name}'."));
            }

            StoredConfig stored;
            try
            {
                stored = await store.ReadAsync(cancel);
            }
            catch (ConfigStoreUnavailableException e)
            {
                return (null, StoreUnavailable(e, "read", revision));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (null, new WriteResult("store-error", revision, revision, Detail: $"Cannot read the config from {store.Name}: {e.Message}. Nothing was changed."));
            }
            if (stored.Revision != revision)
            {
                return (null, new WriteResult("conflict", revision, revision,
                    Detail: $"{store.Name} holds revision {stored.Revision}, which is not the running config (revision {revision}): it was changed outside the admin API and not applied, "
                        + "because it is invalid (see GET /admin/config/status) or not yet reloaded. Fix or reload it (POST /admin/reload) before writing through the admin API, so that change is not overwritten."));
            }

            var yaml = ConfigWriter.Write(next);
            var result = ConfigLoader.Load(yaml, store.Name, store.BaseDirectory);
            if (result.Snapshot is not { } snapshot)
            {
                return (null, new WriteResult("invalid", revision, revision,
                    Detail: $"The config with this change is invalid, so nothing was changed. Paths are relative to the {kind.What}; a path that starts with a section (routes[id]..., clusters[id]...) is elsewhere in the config and names what still refers to it.",
                    Errors: ErrorsByPath(result.Errors, kind.PathOf(next, name), next)));
            }

            ConfigStoreWrite write;
            try
            {
                write = await store.WriteAsync(yaml, revision, cancel);
            }
            catch (ConfigStoreUnavailableException e)
            {
                return (null, StoreUnavailable(e, "write", revision));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return (null, new WriteResult("store-error", revision, revision, Detail: $"Cannot write the config to {store.Name}: {e.Message}. Nothing was changed."));
            }
            if (!write.Written)
            {
                return (null, new WriteResult("conflict", revision, revision,
                    Detail: $"{store.Name} changed while this write was checked (it holds revision {write.Current.Revision}); nothing was changed. GET the object again and retry."));
            }
            // A store may hold the config in a form of its own (etcd: one key per object, read back as one assembled
            // text): the running snapshot is compiled from what it holds, so its version is the store's revision and
            // the store's own change notification finds nothing new.
            if (write.Current.Yaml != yaml && ConfigLoader.Load(write.Current.Yaml, store.Name, store.BaseDirectory).Snapshot is { } held) snapshot = held;
            return (snapshot, new WriteResult(ConfigWriteAudit.Applied, revision, snapshot.Version, Created: created));
        }, cancellationToken);

    private WriteResult StoreUnavailable(ConfigStoreUnavailableException e, string verb, string revision) =>
        new("store-unavailable", revision, revision, Unavailable: e,
            Detail: $"Cannot {verb} the config {(verb == "read" ? "from" : "to")} {store.Name}: {e.Message}. Nothing was changed; the running config keeps serving. Retry when the store is back.");

    /// <summary>
    /// Every error by path: relative to the object when inside it ("" is the object itself), else the config path with
    /// list indexes turned into ids (routes[orders].cluster), which says more than routes[3] to someone who wrote no file.
    /// </summary>
    public static Dictionary<string, string[]> ErrorsByPath(IEnumerable<ConfigError> errors, string? objectPath, MeshgateDefinition definition) =>
        errors.GroupBy(e => Relative(e.Path, objectPath) ?? WithIds(e.Path, definition))
            .ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray());

    private static string? Relative(string path, string? objectPath)
    {
        if (objectPath is null || !path.StartsWith(objectPath, StringComparison.OrdinalIgnoreCase)) return null;
        var rest = path[objectPath.Length..];
        return rest.Length == 0 ? "" : rest[0] == '.' ? rest[1..] : rest[0] == '[' ? rest : null;
    }

    private static string WithIds(string path, MeshgateDefinition definition) => ListIndex().Replace(path, match =>
    {
        var i = int.Parse(match.Groups[2].ValueSpan, System.Globalization.CultureInfo.InvariantCulture);
        var id = match.Groups[1].Value == "routes" ? definition.Routes.ElementAtOrDefault(i)?.Id : definition.Clusters.ElementAtOrDefault(i)?.Id;
        return id is null ? match.Value : $"{match.Groups[1].Value}[{id}]";
    });

    [GeneratedRegex(@"^(routes|clusters)\[(\d+)\]")]
    private static partial Regex ListIndex();
}

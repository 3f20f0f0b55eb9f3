using Meshgate.Configuration;
using Meshgate.Proxy.ForwardedHeaders;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;

namespace Meshgate.Proxy.Pipeline;

/// <summary>
/// Holds the current snapshot and hands YARP its routes and clusters. Publishing swaps the reference
/// and fires the old change token; requests already routed keep the objects they started with.
/// </summary>
public sealed class SnapshotAccessor : IProxyConfigProvider
{
    private readonly Lock _publishing = new();
    private volatile Published _current;
    private Mesh.Discovery.MeshDirectory? _mesh;

    public SnapshotAccessor(ConfigSnapshot initial) => _current = new Published(initial, null);

    public ConfigSnapshot Current => _current.Snapshot;

    public TrustedProxies TrustedProxies => _current.TrustedProxies;

    public IProxyConfig GetConfig() => _current;

    public void Publish(ConfigSnapshot snapshot)
    {
        lock (_publishing)
        {
            var previous = _current;
            _current = new Published(snapshot, _mesh);
            previous.Signal();
        }
    }

    /// <summary>
    /// The mesh clusters' destinations come from <paramref name="mesh"/>: each applied mesh snapshot republishes the
    /// current config snapshot with new destinations for those clusters only (YARP then updates just them).
    /// </summary>
    public void UseMeshDestinations(Mesh.Discovery.MeshDirectory mesh)
    {
        _mesh = mesh;
        mesh.Changed += () => Publish(Current);
        Publish(Current);
    }

    private sealed class Published : IProxyConfig
    {
        private readonly CancellationTokenSource _changed = new();

        public Published(ConfigSnapshot snapshot, Mesh.Discovery.MeshDirectory? mesh)
        {
            Snapshot = snapshot;
            TrustedProxies = new TrustedProxies(snapshot.TrustedProxies);
            ChangeToken = new CancellationChangeToken(_changed.Token);
            Clusters = mesh is null ? snapshot.Clusters
                : snapshot.Clusters.Select(c => c.Metadata?.ContainsKey(Configuration.Compilation.MetadataKeys.MeshService) == true ? mesh.WithDestinations(c) : c).ToList();
        }

        public ConfigSnapshot Snapshot { get; }
        public TrustedProxies TrustedProxies { get; }
        public IReadOnlyList<RouteConfig> Routes => Snapshot.Routes;
        public IReadOnlyList<ClusterConfig> Clusters { get; }
        public IChangeToken ChangeToken { get; }

        public void Signal() => _changed.Cancel();
    }
}

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
    private volatile Published _current;

    public SnapshotAccessor(ConfigSnapshot initial) => _current = new Published(initial);

    public ConfigSnapshot Current => _current.Snapshot;

    public TrustedProxies TrustedProxies => _current.TrustedProxies;

    public IProxyConfig GetConfig() => _current;

    public void Publish(ConfigSnapshot snapshot)
    {
        var previous = _current;
        _current = new Published(snapshot);
        previous.Signal();
    }

    private sealed class Published : IProxyConfig
    {
        private readonly CancellationTokenSource _changed = new();

        public Published(ConfigSnapshot snapshot)
        {
            Snapshot = snapshot;
            TrustedProxies = new TrustedProxies(snapshot.TrustedProxies);
            ChangeToken = new CancellationChangeToken(_changed.Token);
        }

        public ConfigSnapshot Snapshot { get; }
        public TrustedProxies TrustedProxies { get; }
        public IReadOnlyList<RouteConfig> Routes => Snapshot.Routes;
        public IReadOnlyList<ClusterConfig> Clusters => Snapshot.Clusters;
        public IChangeToken ChangeToken { get; }

        public void Signal() => _changed.Cancel();
    }
}

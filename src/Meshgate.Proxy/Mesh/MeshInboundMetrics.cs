using System.Diagnostics.Metrics;
using Meshgate.Common;

namespace Meshgate.Proxy.Mesh;

/// <summary>Instruments of the mesh's inbound side: connections accepted on meshTls listeners, by listener and mode (mtls or plaintext).</summary>
public sealed class MeshInboundMetrics
{
    public const string Mtls = "mtls";
    public const string Plaintext = "plaintext";

    private readonly Counter<long> _connections;

    public MeshInboundMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeshgateMeter.Name);
        _connections = meter.CreateCounter<long>("meshgate.mesh.inbound.connections", "{connection}",
            "Connections accepted on meshTls listeners, by listener and mode (mtls: a verified mesh workload; plaintext: permissive mode without TLS).");
    }

    public void ConnectionAccepted(string listener, string mode) =>
        _connections.Add(1, new KeyValuePair<string, object?>("listener", listener), new KeyValuePair<string, object?>("mode", mode));
}

using Meshgate.Configuration.Model;

namespace Meshgate.Mesh.Sidecar;

/// <summary>What `meshgate sidecar` was started with: the workload it stands beside and where it listens.</summary>
public sealed record SidecarOptions
{
    /// <summary>The service the app is an instance of; also the sidecar's identity (its SPIFFE id's last segment).</summary>
    public required string Service { get; init; }

    public string Namespace { get; init; } = "default";

    /// <summary>The app's port on localhost, where inbound requests are forwarded.</summary>
    public required int AppPort { get; init; }

    /// <summary>The control plane's gRPC URL (registry, distribution and CA).</summary>
    public required string ControlPlane { get; init; }

    /// <summary>PEM file of the roots the control plane's TLS certificate chains to (`mesh.controlPlaneCa`); null: the system trust store.</summary>
    public string? ControlPlaneCa { get; init; }

    /// <summary>Path of the bootstrap token's file; exactly one of this and <see cref="TokenEnv"/>.</summary>
    public string? TokenFile { get; init; }

    public string? TokenEnv { get; init; }

    /// <summary>host:port of the inbound mTLS listener that other sidecars call.</summary>
    public string Inbound { get; init; } = "0.0.0.0:15006";

    /// <summary>host:port of the outbound listener the app uses as its HTTP proxy (loopback: only the app may use it).</summary>
    public string Outbound { get; init; } = "127.0.0.1:15001";

    /// <summary>host:port of the admin API (metrics, health, config).</summary>
    public string Admin { get; init; } = "127.0.0.1:15000";

    /// <summary>Fixed local ports, one per callee service, for apps that cannot use an HTTP proxy: service -> 127.0.0.1 port.</summary>
    public IReadOnlyDictionary<string, int> ServicePorts { get; init; } = new Dictionary<string, int>();

    /// <summary>The address other sidecars reach the inbound listener at, as registered; null: the inbound listener's host (127.0.0.1 for 0.0.0.0).</summary>
    public string? AdvertiseAddress { get; init; }

    /// <summary>Unique id of this instance in the registry; null: service, host name and process id.</summary>
    public string? InstanceId { get; init; }

    /// <summary>Registry labels, e.g. version=v2 (what traffic splits select on).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    public MeshTlsMode Mode { get; init; } = MeshTlsMode.Strict;

    /// <summary>The forwarder of the calls to other services (the mesh clusters' <c>forwarder</c> key): auto leaves them to YARP (HTTP/2 over mTLS), direct takes the direct HTTP/1.1 path.</summary>
    public ForwarderMode MeshForwarder { get; init; } = ForwarderMode.Auto;

    /// <summary>Written into the generated config's logging section.</summary>
    public LogLevelName LogLevel { get; init; } = LogLevelName.Information;
}

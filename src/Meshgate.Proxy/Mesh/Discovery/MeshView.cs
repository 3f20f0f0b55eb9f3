namespace Meshgate.Proxy.Mesh.Discovery;

/// <summary>
/// One control-plane snapshot as the proxy uses it: the live instances of every service and the mesh-wide policies by
/// callee service. Made from the wire type by the process that watches the control plane (Meshgate.Mesh), so the proxy
/// needs no gRPC types.
/// </summary>
public sealed record MeshView(long Version, IReadOnlyDictionary<string, IReadOnlyList<MeshInstance>> Services, IReadOnlyDictionary<string, MeshServicePolicy> Policies);

/// <summary>A live instance; <see cref="Address"/>:<see cref="Port"/> is its sidecar's inbound mTLS listener.</summary>
public sealed record MeshInstance(string Id, string Address, int Port, IReadOnlyDictionary<string, string> Labels)
{
    /// <summary>The label traffic splits select on.</summary>
    public const string VersionLabel = "version";

    public string? Version => Labels.GetValueOrDefault(VersionLabel);
}

/// <summary>The control plane's policies for calls to one service.</summary>
/// <param name="Timeout">Whole-request deadline; null when none is set.</param>
/// <param name="RetryAttempts">Retries after the first attempt; 0 = the mesh default.</param>
/// <param name="Split">Relative weights by the instances' version label; empty = all versions alike.</param>
public sealed record MeshServicePolicy(string Service, TimeSpan? Timeout, int RetryAttempts, IReadOnlyList<VersionWeight> Split);

public sealed record VersionWeight(string Version, int Weight);

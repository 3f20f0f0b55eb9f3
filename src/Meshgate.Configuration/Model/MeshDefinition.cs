using System.ComponentModel;

namespace Meshgate.Configuration.Model;

/// <summary>
/// Membership of a service mesh: where the control plane is and who this proxy is. With it, the process gets a
/// workload certificate from the control plane's CA and watches its snapshots (services, instances, policies).
/// The sidecar writes this section itself; a gateway writes it to route to mesh services (clusters with discovery: mesh).
/// </summary>
public sealed record MeshDefinition
{
    [Description("URL of the control plane's gRPC listener, e.g. https://127.0.0.1:15010 (http:// only for a control plane started with --insecure-plaintext).")]
    [Required]
    public string? ControlPlane { get; init; }

    [Description("PEM file of the root(s) the control plane's TLS certificate must chain to, given out of band (the control plane writes it with --write-trust-bundle). Only with an https:// controlPlane; without it the system trust store is used.")]
    public string? ControlPlaneCa { get; init; }

    [Description("The service this proxy speaks for: its SPIFFE id is spiffe://<trust-domain>/ns/<namespace>/sa/<service>. Must match the bootstrap token's.")]
    [Required]
    public string? Service { get; init; }

    [Description("The namespace of the service. Default: default.")]
    public string Namespace { get; init; } = "default";

    [Description("Path of a file holding the bootstrap token the CA signs this proxy's certificate for (surrounding whitespace is trimmed).")]
    public string? TokenFile { get; init; }

    [Description("Name of an environment variable holding the bootstrap token.")]
    public string? TokenEnv { get; init; }
}

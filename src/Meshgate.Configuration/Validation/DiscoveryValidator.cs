using Meshgate.Configuration.Model;

namespace Meshgate.Configuration.Validation;

/// <summary>A cluster with <c>discovery: mesh</c>: its endpoints are a mesh service's live instances, reached with the mesh's mutual TLS.</summary>
internal static class DiscoveryValidator
{
    public static void Validate(ClusterDefinition cluster, MeshDefinition? mesh, string path, ValidationContext context)
    {
        if (cluster.Discovery != ClusterDiscovery.Mesh)
        {
            var key = cluster.Service is not null ? "service" : "namespace";
            context.Error($"{path}.{key}", "only used with discovery: mesh (this cluster lists its endpoints)");
            return;
        }
        if (mesh is null)
        {
            context.Error($"{path}.discovery", "discovery: mesh needs the top-level mesh section: the control plane the instances come from and the identity the gateway presents to them");
        }
        if (cluster.Service is null)
        {
            context.Error($"{path}.discovery", "discovery: mesh needs service: the mesh service whose instances are the endpoints, e.g. service: orders");
        }
        else if (!MeshValidator.IsSpiffeSegment(cluster.Service))
        {
            context.Error($"{path}.service", $"'{cluster.Service}' is not a valid service name: use letters, digits, '-', '_' and '.' (it becomes part of a SPIFFE id)");
        }
        if (cluster.Namespace is { } ns && !MeshValidator.IsSpiffeSegment(ns))
        {
            context.Error($"{path}.namespace", $"'{ns}' is not a valid namespace: use letters, digits, '-', '_' and '.' (it becomes part of a SPIFFE id)");
        }
        if (cluster.Endpoints.Count > 0)
        {
            context.Error($"{path}.endpoints", $"must be empty with discovery: mesh: the endpoints are the live instances of service '{cluster.Service}'");
        }
        if (cluster.Tls is not null)
        {
            context.Error($"{path}.tls", "not used with discovery: mesh: the gateway presents its workload certificate and checks the instance's SPIFFE id");
        }
    }
}

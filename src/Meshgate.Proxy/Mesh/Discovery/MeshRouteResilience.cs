using Meshgate.Proxy.Resilience;

namespace Meshgate.Proxy.Mesh.Discovery;

/// <summary>
/// Endpoint metadata of a route to a mesh cluster that has no resilience policy of its own: the timeout and retries
/// of the control plane's policy for the callee service, read per request, so a new mesh snapshot applies without
/// rebuilding the endpoint. A route's own resilience policy wins over the mesh's.
/// </summary>
internal sealed class MeshRouteResilience(MeshDirectory directory, string service)
{
    public RouteResilience Current => directory.ResilienceOf(service);
}

using System.Net;

namespace Meshgate.Proxy.ForwardedHeaders;

/// <summary>
/// The address of the client that sent the request, as established by the gateway from trusted proxies'
/// forwarding headers. Policies that key on the client (consistent hashing by IP, for example) read this
/// instead of the socket address, which behind a load balancer is the load balancer's.
/// </summary>
public interface IClientAddressFeature
{
    /// <summary>The client's address, or <see langword="null"/> when it could not be established.</summary>
    IPAddress? ClientAddress { get; }
}

using System.Net;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.ForwardedHeaders;

/// <summary>
/// Decides who the client is. A peer inside trustedProxies may tell us, through X-Forwarded-For, who
/// it forwards for; anyone else's claim is ignored. Walking the list from the right and stopping at
/// the first untrusted hop means a client cannot forge its way in by prepending addresses.
/// </summary>
public sealed class TrustedProxies(IReadOnlyList<IPNetwork> networks)
{
    public static readonly TrustedProxies None = new([]);

    public bool IsEmpty => networks.Count == 0;

    public bool Contains(IPAddress? address)
    {
        if (address is null) return false;
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        foreach (var network in networks)
        {
            if (network.Contains(address)) return true;
        }
        return false;
    }

    public IPAddress? ResolveClient(HttpContext context)
    {
        var peer = context.Connection.RemoteIpAddress;
        if (!Contains(peer)) return peer;
        var forwardedFor = context.Request.Headers["X-Forwarded-For"];
        var client = peer;
        for (var i = forwardedFor.Count - 1; i >= 0; i--)
        {
            var hops = forwardedFor[i]!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            for (var j = hops.Length - 1; j >= 0; j--)
            {
                if (!IPAddress.TryParse(hops[j].Trim('[', ']'), out var hop)) return client;
                client = hop;
                if (!Contains(hop)) return client;
            }
        }
        return client;
    }
}

internal sealed class ClientAddressFeature(IPAddress? address) : IClientAddressFeature
{
    public IPAddress? ClientAddress { get; } = address;
}

/// <summary>Puts <see cref="IClientAddressFeature"/> on each request; later steps read only that.</summary>
public sealed class ClientAddressMiddleware(RequestDelegate next, Pipeline.SnapshotAccessor snapshots)
{
    public Task InvokeAsync(HttpContext context)
    {
        // With no trusted proxies the client is the peer, which readers fall back to: nothing to allocate.
        var trusted = snapshots.TrustedProxies;
        if (!trusted.IsEmpty)
        {
            context.Features.Set<IClientAddressFeature>(new ClientAddressFeature(trusted.ResolveClient(context)));
        }
        return next(context);
    }
}


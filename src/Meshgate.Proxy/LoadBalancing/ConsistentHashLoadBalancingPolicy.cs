using System.Net;
using System.Runtime.CompilerServices;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.ForwardedHeaders;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Model;

namespace Meshgate.Proxy.LoadBalancing;

/// <summary>
/// Sends requests with the same key to the same destination (cache locality, sticky sessions without a
/// cookie of our own) using a weighted hash ring built once per available-destinations list.
/// </summary>
/// <remarks>
/// <para>
/// The key is chosen by cluster metadata <see cref="MetadataKeys.HashSource"/>: <c>header</c> or <c>cookie</c>
/// (named by <see cref="MetadataKeys.HashName"/>), or <c>client-ip</c>, which uses
/// <see cref="IClientAddressFeature"/> when the gateway established the client from trusted proxies and the
/// socket's remote address otherwise.
/// </para>
/// <para>
/// When the request has no key (header or cookie absent or empty, no client address) or the cluster's hash
/// settings are missing or unknown, the request goes to a weighted-random destination: failing it would punish
/// the client for a missing optional header, and pinning all key-less requests to one destination would
/// overload it.
/// </para>
/// </remarks>
internal sealed class ConsistentHashLoadBalancingPolicy(IRandomSource random) : WeightedLoadBalancingPolicy
{
    private readonly ConditionalWeakTable<WeightedDestinations, HashRing> _rings = new();
    private readonly ConditionalWeakTable<ClusterModel, HashKeySettings> _settings = new();

    public override string Name => PolicyNames.ConsistentHash;

    protected override DestinationState Pick(HttpContext context, ClusterState cluster, WeightedDestinations weighted)
    {
        if (!TryHashKey(context, cluster, out var keyHash))
        {
            return weighted.Destinations[weighted.PickWeightedIndex(random)];
        }

        if (!_rings.TryGetValue(weighted, out var ring))
        {
            ring = _rings.GetValue(weighted, static w => new HashRing(w.Destinations, w.Weights));
        }

        return ring.Lookup(keyHash);
    }

    private bool TryHashKey(HttpContext context, ClusterState cluster, out ulong hash)
    {
        hash = 0;
        var model = cluster.Model;
        if (model is null)
        {
            return false;
        }

        var settings = _settings.GetValue(model, static m => HashKeySettings.Parse(m.Config.Metadata));
        switch (settings.Source)
        {
            case HashKeySource.Header:
                var values = context.Request.Headers[settings.Name!];
                if (values.Count == 0)
                {
                    return false;
                }

                var header = values.Count == 1 ? values[0] : values.ToString();
                if (string.IsNullOrEmpty(header))
                {
                    return false;
                }

                hash = StableHash.Hash(header);
                return true;

            case HashKeySource.Cookie:
                var cookie = context.Request.Cookies[settings.Name!];
                if (string.IsNullOrEmpty(cookie))
                {
                    return false;
                }

                hash = StableHash.Hash(cookie);
                return true;

            case HashKeySource.ClientIp:
                var address = context.Features.Get<IClientAddressFeature>()?.ClientAddress ?? context.Connection.RemoteIpAddress;
                if (address is null)
                {
                    return false;
                }

                hash = HashAddress(address);
                return true;

            default:
                return false;
        }
    }

    private static ulong HashAddress(IPAddress address)
    {
        // A dual-stack socket reports IPv4 clients as ::ffff:a.b.c.d; normalizing keeps a client on the same
        // destination whichever listener or proxy header it came through.
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        Span<byte> bytes = stackalloc byte[16];
        return address.TryWriteBytes(bytes, out var written) ? StableHash.Hash(bytes[..written]) : StableHash.Hash(address.ToString());
    }

    private enum HashKeySource
    {
        None,
        Header,
        Cookie,
        ClientIp,
    }

    private sealed record HashKeySettings(HashKeySource Source, string? Name)
    {
        public static HashKeySettings Parse(IReadOnlyDictionary<string, string>? metadata)
        {
            if (metadata is null || !metadata.TryGetValue(MetadataKeys.HashSource, out var source))
            {
                return new(HashKeySource.None, null);
            }

            metadata.TryGetValue(MetadataKeys.HashName, out var name);
            var hasName = !string.IsNullOrEmpty(name);
            return source.Trim().ToLowerInvariant() switch
            {
                "header" when hasName => new(HashKeySource.Header, name),
                "cookie" when hasName => new(HashKeySource.Cookie, name),
                "client-ip" => new(HashKeySource.ClientIp, null),
                _ => new(HashKeySource.None, null),
            };
        }
    }
}

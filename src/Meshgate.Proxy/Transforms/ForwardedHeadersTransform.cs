using System.Net;
using Meshgate.Proxy.ForwardedHeaders;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Transforms;

namespace Meshgate.Proxy.Transforms;

/// <summary>
/// X-Forwarded-For/Proto/Host toward the upstream. From a trusted proxy the incoming chain is kept
/// and the peer appended, as nginx and Envoy do; from anyone else incoming X-Forwarded-* and
/// Forwarded headers are dropped and replaced, so a client cannot make the upstream believe a
/// forged address. YARP's own X-Forwarded transforms are turned off: they cannot decide per peer.
/// The decision is <see cref="ForwardedHeadersRule"/>'s, shared with the direct HTTP/1.1 path.
/// </summary>
internal sealed class ForwardedHeadersTransform(Pipeline.SnapshotAccessor snapshots) : RequestTransform
{
    public override ValueTask ApplyAsync(RequestTransformContext context)
    {
        var http = context.HttpContext;
        var request = http.Request;
        var peer = ForwardedHeadersRule.Peer(http);
        var peerText = peer?.ToString();
        var headers = context.ProxyRequest.Headers;

        if (ForwardedHeadersRule.FromTrustedProxy(http, snapshots))
        {
            var incomingFor = request.Headers[ForwardedHeadersRule.For].ToString();
            headers.Remove(ForwardedHeadersRule.For);
            headers.TryAddWithoutValidation(ForwardedHeadersRule.For, incomingFor.Length == 0 ? peerText : $"{incomingFor}, {peerText}");
            if (!request.Headers.ContainsKey(ForwardedHeadersRule.Proto)) headers.TryAddWithoutValidation(ForwardedHeadersRule.Proto, request.Scheme);
            if (!request.Headers.ContainsKey(ForwardedHeadersRule.Host) && request.Host.HasValue) headers.TryAddWithoutValidation(ForwardedHeadersRule.Host, request.Host.Value);
            return default;
        }

        foreach (var name in ForwardedHeadersRule.Untrusted)
        {
            headers.Remove(name);
        }
        if (peerText is not null) headers.TryAddWithoutValidation(ForwardedHeadersRule.For, peerText);
        headers.TryAddWithoutValidation(ForwardedHeadersRule.Proto, request.Scheme);
        if (request.Host.HasValue) headers.TryAddWithoutValidation(ForwardedHeadersRule.Host, request.Host.Value);
        return default;
    }
}

/// <summary>
/// The forwarded-headers decision, used by both forwarders: whom to believe, and which incoming headers a
/// client that is not a trusted proxy may not pass on.
/// From a trusted proxy: X-Forwarded-For = incoming chain + ", " + peer; X-Forwarded-Proto and -Host kept when present,
/// else the request's scheme and Host. From anyone else: every name in <see cref="Untrusted"/> dropped, then
/// X-Forwarded-For = peer, -Proto = scheme, -Host = Host.
/// </summary>
internal static class ForwardedHeadersRule
{
    public const string For = "X-Forwarded-For";
    public const string Proto = "X-Forwarded-Proto";
    public const string Host = "X-Forwarded-Host";

    public static readonly string[] Untrusted = [For, Proto, Host, "X-Forwarded-Prefix", "X-Real-IP", "Forwarded"];

    /// <summary>The peer's address as the upstream is told it (an IPv4-mapped IPv6 address as IPv4).</summary>
    public static IPAddress? Peer(HttpContext context)
    {
        var peer = context.Connection.RemoteIpAddress;
        return peer is { IsIPv4MappedToIPv6: true } ? peer.MapToIPv4() : peer;
    }

    /// <summary>Read per request: a reload may change trustedProxies without touching any route. With none configured, the peer's address is not looked up.</summary>
    public static bool FromTrustedProxy(HttpContext context, Pipeline.SnapshotAccessor snapshots) =>
        snapshots.TrustedProxies is { IsEmpty: false } trusted && trusted.Contains(context.Connection.RemoteIpAddress);

    /// <summary>
    /// Whether the rule writes this header itself, so neither the client's copy nor a route's header transform is
    /// forwarded: the For chain always, and from a peer that is not a trusted proxy every name in <see cref="Untrusted"/>.
    /// </summary>
    public static bool Owns(string name, bool trustedPeer) =>
        IsUntrusted(name) && (!trustedPeer || string.Equals(name, For, StringComparison.OrdinalIgnoreCase));

    /// <summary>As <see cref="IsUntrusted(string)"/>, for a name as the client sent it.</summary>
    public static bool IsUntrusted(ReadOnlySpan<byte> name)
    {
        foreach (var untrusted in Untrusted)
        {
            if (System.Text.Ascii.EqualsIgnoreCase(name, untrusted)) return true;
        }
        return false;
    }

    public static bool IsUntrusted(string name)
    {
        foreach (var untrusted in Untrusted)
        {
            if (string.Equals(name, untrusted, StringComparison.OrdinalIgnoreCase)) return true;
        }
        return false;
    }
}

using Meshgate.Proxy.ForwardedHeaders;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Transforms;

namespace Meshgate.Proxy.Transforms;

/// <summary>
/// X-Forwarded-For/Proto/Host toward the upstream. From a trusted proxy the incoming chain is kept
/// and the peer appended, as nginx and Envoy do; from anyone else incoming X-Forwarded-* and
/// Forwarded headers are dropped and replaced, so a client cannot make the upstream believe a
/// forged address. YARP's own X-Forwarded transforms are turned off: they cannot decide per peer.
/// </summary>
internal sealed class ForwardedHeadersTransform(Pipeline.SnapshotAccessor snapshots) : RequestTransform
{
    public override ValueTask ApplyAsync(RequestTransformContext context)
    {
        var http = context.HttpContext;
        var request = http.Request;
        var peer = http.Connection.RemoteIpAddress;
        var peerText = peer is null ? null : (peer.IsIPv4MappedToIPv6 ? peer.MapToIPv4() : peer).ToString();
        var headers = context.ProxyRequest.Headers;

        // Read per request: a reload may change trustedProxies without touching any route.
        if (snapshots.TrustedProxies.Contains(peer))
        {
            var incomingFor = request.Headers["X-Forwarded-For"].ToString();
            headers.Remove("X-Forwarded-For");
            headers.TryAddWithoutValidation("X-Forwarded-For", incomingFor.Length == 0 ? peerText : $"{incomingFor}, {peerText}");
            if (!request.Headers.ContainsKey("X-Forwarded-Proto")) headers.TryAddWithoutValidation("X-Forwarded-Proto", request.Scheme);
            if (!request.Headers.ContainsKey("X-Forwarded-Host") && request.Host.HasValue) headers.TryAddWithoutValidation("X-Forwarded-Host", request.Host.Value);
            return default;
        }

        foreach (var name in Untrusted)
        {
            headers.Remove(name);
        }
        if (peerText is not null) headers.TryAddWithoutValidation("X-Forwarded-For", peerText);
        headers.TryAddWithoutValidation("X-Forwarded-Proto", request.Scheme);
        if (request.Host.HasValue) headers.TryAddWithoutValidation("X-Forwarded-Host", request.Host.Value);
        return default;
    }

    private static readonly string[] Untrusted = ["X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix", "X-Real-IP", "Forwarded"];
}

using System.Net;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.ForwardedHeaders;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>Builds a request's rate-limit key from the policy's key parts.</summary>
internal static class RateLimitKeys
{
    public static string For(HttpContext context, IReadOnlyList<RateLimitKeyPart> parts, string routeId)
    {
        if (parts.Count == 1) return Part(context, parts[0], routeId);
        var values = new string[parts.Count];
        for (var i = 0; i < parts.Count; i++) values[i] = Part(context, parts[i], routeId);
        // A separator no header value, claim or address can hold, so ("a b", "c") and ("a", "b c") differ.
        return string.Join('\n', values);
    }

    private static string Part(HttpContext context, RateLimitKeyPart part, string routeId) => part.Kind switch
    {
        RateLimitKeyKind.ClientIp => "ip:" + ClientIp(context),
        // Anonymous requests are limited per client address, in their own space so an address is never taken for a consumer name.
        RateLimitKeyKind.Consumer => context.User.FindFirst(MeshgateClaims.Consumer)?.Value is { } consumer ? "consumer:" + consumer : "ip:" + ClientIp(context),
        RateLimitKeyKind.Claim => "claim:" + context.User.FindFirst(part.Name)?.Value,
        RateLimitKeyKind.Header => "header:" + context.Request.Headers[part.Name].ToString(),
        _ => "route:" + routeId,
    };

    /// <summary>The client address the ClientAddress step established (forwarded headers only from trusted proxies), else the peer.</summary>
    private static string ClientIp(HttpContext context)
    {
        var address = context.Features.Get<IClientAddressFeature>()?.ClientAddress ?? context.Connection.RemoteIpAddress;
        if (address is { IsIPv4MappedToIPv6: true }) address = address.MapToIPv4();
        return address?.ToString() ?? "";
    }
}

using System.Net;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Authentication;
using Meshgate.Proxy.ForwardedHeaders;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.RateLimiting;

/// <summary>What a request's rate-limit key is made of, read from wherever the request is (an HttpContext, the direct front end).</summary>
internal interface IRateLimitKeySource
{
    /// <summary>"ip:" and the client's address: the ClientAddress step's (forwarded headers only from trusted proxies), else the peer's.</summary>
    string IpKey { get; }

    /// <summary>The authenticated consumer; null for an anonymous request.</summary>
    string? Consumer { get; }

    /// <summary>The first value of the authenticated principal's claim; null when it has none.</summary>
    string? Claim(string name);

    /// <summary>The header's values, comma-joined (as <c>StringValues.ToString</c>); empty when absent.</summary>
    string Header(string name);
}

/// <summary>Builds a request's rate-limit key from the policy's key parts.</summary>
internal static class RateLimitKeys
{
    public static string For<TSource>(in TSource source, IReadOnlyList<RateLimitKeyPart> parts, RouteRateLimit limit) where TSource : struct, IRateLimitKeySource
    {
        if (parts.Count == 1) return Part(source, parts[0], limit);
        var values = new string[parts.Count];
        for (var i = 0; i < parts.Count; i++) values[i] = Part(source, parts[i], limit);
        // A separator no header value, claim or address can hold, so ("a b", "c") and ("a", "b c") differ.
        return string.Join('\n', values);
    }

    private static string Part<TSource>(in TSource source, RateLimitKeyPart part, RouteRateLimit limit) where TSource : struct, IRateLimitKeySource => part.Kind switch
    {
        RateLimitKeyKind.ClientIp => source.IpKey,
        // Anonymous requests are limited per client address, in their own space so an address is never taken for a consumer name.
        RateLimitKeyKind.Consumer => source.Consumer is { } consumer ? "consumer:" + consumer : source.IpKey,
        RateLimitKeyKind.Claim => "claim:" + source.Claim(part.Name),
        RateLimitKeyKind.Header => "header:" + source.Header(part.Name),
        _ => limit.RouteKey,
    };

    /// <summary>"ip:" and the address, an IPv4-mapped IPv6 address as IPv4.</summary>
    public static string IpKey(IPAddress? address)
    {
        if (address is { IsIPv4MappedToIPv6: true }) address = address.MapToIPv4();
        return "ip:" + address?.ToString();
    }
}

/// <summary>The key parts of a request in the pipeline.</summary>
internal readonly struct HttpContextKeySource(HttpContext context) : IRateLimitKeySource
{
    public string IpKey => RateLimitKeys.IpKey(context.Features.Get<IClientAddressFeature>()?.ClientAddress ?? context.Connection.RemoteIpAddress);

    public string? Consumer => context.User.FindFirst(MeshgateClaims.Consumer)?.Value;

    public string? Claim(string name) => context.User.FindFirst(name)?.Value;

    public string Header(string name) => context.Request.Headers[name].ToString();
}

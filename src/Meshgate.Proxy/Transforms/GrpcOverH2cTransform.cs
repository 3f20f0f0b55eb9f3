using System.Net;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

namespace Meshgate.Proxy.Transforms;

/// <summary>
/// Under <c>httpVersion: auto</c> an http:// endpoint gets HTTP/1.1 (HttpClient offers HTTP/2 in plaintext only to a
/// client that insists), and gRPC cannot run over HTTP/1.1: it needs HTTP/2's trailers and full-duplex streams. So a
/// gRPC request to an http:// endpoint of an auto cluster goes as h2c (HTTP/2 with prior knowledge), like Envoy's
/// protocol per request for gRPC; every other request keeps HTTP/1.1, which every HTTP app speaks. This is what a
/// sidecar's app cluster relies on: the hop between sidecars is HTTP/2 whatever the caller's app spoke, so the
/// protocol a request arrives with at the callee's sidecar says nothing about the app's; gRPC is the one kind of
/// request that needs HTTP/2 (docs/mesh-sidecar.md, gRPC).
/// </summary>
internal sealed class GrpcOverH2cTransform : RequestTransform
{
    public static GrpcOverH2cTransform Instance { get; } = new();

    private GrpcOverH2cTransform() { }

    /// <summary>Whether a cluster has http:// endpoints under httpVersion: auto, the only setting where HTTP/1.1 is chosen
    /// for a plaintext endpoint without being asked for. TLS and mesh clusters never get the transform, so cost nothing.</summary>
    public static bool AppliesTo(ClusterConfig? cluster) =>
        cluster?.HttpRequest is { } request && request.Version == HttpVersion.Version20 && request.VersionPolicy == HttpVersionPolicy.RequestVersionOrLower
        && cluster.Destinations?.Values.Any(d => d.Address.StartsWith("http://", StringComparison.OrdinalIgnoreCase)) == true;

    public override ValueTask ApplyAsync(RequestTransformContext context)
    {
        if (IsGrpc(context.HttpContext.Request.Headers.ContentType) && context.DestinationPrefix.StartsWith("http://", StringComparison.OrdinalIgnoreCase))
        {
            context.ProxyRequest.Version = HttpVersion.Version20;
            context.ProxyRequest.VersionPolicy = HttpVersionPolicy.RequestVersionExact;
        }
        return default;
    }

    /// <summary>application/grpc and its +proto, +json... forms; not gRPC-Web (application/grpc-web), which runs over HTTP/1.1.</summary>
    public static bool IsGrpc(StringValues contentType)
    {
        if (contentType.Count != 1 || contentType[0] is not { } value || !value.StartsWith("application/grpc", StringComparison.OrdinalIgnoreCase)) return false;
        return value.Length == "application/grpc".Length || value["application/grpc".Length] is '+' or ';';
    }

    /// <summary>What /admin/explain says of the protocol toward the cluster's endpoints for a request with this content type.</summary>
    public static string Describe(ClusterConfig cluster, StringValues contentType)
    {
        var request = cluster.HttpRequest;
        if (request?.VersionPolicy == HttpVersionPolicy.RequestVersionExact)
        {
            return request.Version == HttpVersion.Version20 ? "HTTP/2 (httpVersion: \"2\"; h2c to http:// endpoints)" : "HTTP/1.1 (httpVersion: \"1.1\")";
        }
        return IsGrpc(contentType)
            ? "gRPC request: h2c (HTTP/2 with prior knowledge) to http:// endpoints, HTTP/2 by ALPN to https:// ones (httpVersion: auto)"
            : "HTTP/1.1 to http:// endpoints, HTTP/2 if ALPN offers it to https:// ones (httpVersion: auto)";
    }
}

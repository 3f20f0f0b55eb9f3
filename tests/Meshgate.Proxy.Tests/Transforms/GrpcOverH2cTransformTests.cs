using System.Net;
using Meshgate.Proxy.Transforms;
using Microsoft.AspNetCore.Http;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Transforms;

namespace Meshgate.Proxy.Tests.Transforms;

public sealed class GrpcOverH2cTransformTests
{
    [Theory]
    [InlineData("application/grpc", true)]
    [InlineData("application/grpc+proto", true)]
    [InlineData("application/GRPC;charset=utf-8", true)]
    [InlineData("application/grpc-web", false)]
    [InlineData("application/grpc-web-text", false)]
    [InlineData("application/grpcx", false)]
    [InlineData("application/json", false)]
    [InlineData(null, false)]
    public void IsGrpc_TakesGrpcButNotGrpcWeb(string? contentType, bool expected) =>
        Assert.Equal(expected, GrpcOverH2cTransform.IsGrpc(contentType));

    [Theory]
    [InlineData("application/grpc", "http://10.0.0.1:5000/", "2.0", HttpVersionPolicy.RequestVersionExact)]
    [InlineData("application/grpc", "https://10.0.0.1:5000/", "2.0", HttpVersionPolicy.RequestVersionOrLower)]
    [InlineData("application/json", "http://10.0.0.1:5000/", "2.0", HttpVersionPolicy.RequestVersionOrLower)]
    public async Task Apply_MakesOnlyGrpcToHttpEndpointsH2c(string contentType, string destination, string version, HttpVersionPolicy policy)
    {
        var http = new DefaultHttpContext();
        http.Request.ContentType = contentType;
        var proxyRequest = new HttpRequestMessage { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionOrLower };

        await GrpcOverH2cTransform.Instance.ApplyAsync(new RequestTransformContext { HttpContext = http, ProxyRequest = proxyRequest, DestinationPrefix = destination, Path = "/", Query = new QueryTransformContext(http.Request) });

        Assert.Equal(Version.Parse(version), proxyRequest.Version);
        Assert.Equal(policy, proxyRequest.VersionPolicy);
    }

    [Fact]
    public void AppliesTo_OnlyAutoClustersWithHttpEndpoints()
    {
        static ClusterConfig Cluster(string address, Version version, HttpVersionPolicy policy) => new()
        {
            ClusterId = "c",
            Destinations = new Dictionary<string, DestinationConfig> { ["d"] = new() { Address = address } },
            HttpRequest = new Yarp.ReverseProxy.Forwarder.ForwarderRequestConfig { Version = version, VersionPolicy = policy },
        };

        Assert.True(GrpcOverH2cTransform.AppliesTo(Cluster("http://a:1", HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower)));
        Assert.False(GrpcOverH2cTransform.AppliesTo(Cluster("https://a:1", HttpVersion.Version20, HttpVersionPolicy.RequestVersionOrLower)));
        Assert.False(GrpcOverH2cTransform.AppliesTo(Cluster("http://a:1", HttpVersion.Version11, HttpVersionPolicy.RequestVersionExact)));
        Assert.False(GrpcOverH2cTransform.AppliesTo(Cluster("http://a:1", HttpVersion.Version20, HttpVersionPolicy.RequestVersionExact)));
    }
}

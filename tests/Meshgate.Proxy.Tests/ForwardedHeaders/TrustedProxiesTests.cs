using System.Net;
using Meshgate.Proxy.ForwardedHeaders;
using Microsoft.AspNetCore.Http;

namespace Meshgate.Proxy.Tests.ForwardedHeaders;

public sealed class TrustedProxiesTests
{
    private static readonly TrustedProxies Trusted = new([IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("127.0.0.1/32")]);

    private static IPAddress? Resolve(string peer, params string[] forwardedFor)
    {
        var context = new DefaultHttpContext();
        context.Connection.RemoteIpAddress = IPAddress.Parse(peer);
        if (forwardedFor.Length > 0) context.Request.Headers["X-Forwarded-For"] = forwardedFor;
        return Trusted.ResolveClient(context);
    }

    [Fact]
    public void ResolveClient_UntrustedPeer_IsThePeerWhateverItClaims() =>
        Assert.Equal(IPAddress.Parse("203.0.113.9"), Resolve("203.0.113.9", "1.2.3.4"));

    [Fact]
    public void ResolveClient_TrustedPeer_TakesTheLastUntrustedHop() =>
        Assert.Equal(IPAddress.Parse("198.51.100.7"), Resolve("10.0.0.1", "1.2.3.4, 198.51.100.7, 10.1.1.1"));

    [Fact]
    public void ResolveClient_ForgedPrefix_CannotWinOverTheRealClient() =>
        // The client prepended 1.2.3.4; our trusted proxy appended the address it saw.
        Assert.Equal(IPAddress.Parse("198.51.100.7"), Resolve("127.0.0.1", "1.2.3.4, 198.51.100.7"));

    [Fact]
    public void ResolveClient_SeveralHeaderLines_ReadRightToLeft() =>
        Assert.Equal(IPAddress.Parse("198.51.100.7"), Resolve("10.0.0.1", "1.2.3.4", "198.51.100.7, 10.2.2.2"));

    [Fact]
    public void ResolveClient_GarbageHop_StopsAtLastGoodAddress() =>
        Assert.Equal(IPAddress.Parse("10.9.9.9"), Resolve("10.0.0.1", "not-an-ip, 10.9.9.9"));

    [Fact]
    public void ResolveClient_NoHeader_IsThePeer() =>
        Assert.Equal(IPAddress.Parse("10.0.0.1"), Resolve("10.0.0.1"));

    [Fact]
    public void Contains_MappedIPv4_MatchesIPv4Network() =>
        Assert.True(Trusted.Contains(IPAddress.Parse("::ffff:10.1.2.3")));
}

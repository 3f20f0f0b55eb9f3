using Meshgate.Proxy.Observability.Tracing;

namespace Meshgate.Proxy.Tests.Observability.Tracing;

public sealed class UpstreamSpansTests
{
    [Theory]
    [InlineData("http://10.0.0.5:8080/orders/42", "http://10.0.0.5:8080/orders/42")]
    [InlineData("http://10.0.0.5:8080/orders?token=s3cret&page=2", "http://10.0.0.5:8080/orders?token=*&page=*")]
    [InlineData("https://user:pass@api.internal/x?flag", "https://api.internal/x?flag")]
    [InlineData("http://h/p?", "http://h/p")]
    public void RedactedUrl_DropsUserInfoAndQueryValues(string url, string expected) =>
        Assert.Equal(expected, UpstreamSpans.RedactedUrl(new Uri(url)));
}

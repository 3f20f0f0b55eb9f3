using Meshgate.Proxy.Observability.AccessLog;

namespace Meshgate.Proxy.Tests.Observability.AccessLog;

public sealed class AccessLogSamplerTests
{
    [Fact]
    public void Keep_Fraction_KeepsAboutThatShare()
    {
        var sampler = new AccessLogSampler(new Random(7).NextDouble);

        var kept = Enumerable.Range(0, 10_000).Count(_ => sampler.Keep(0.25));

        Assert.InRange(kept, 2_300, 2_700);
    }

    [Theory]
    [InlineData(0.0, false)]
    [InlineData(1.0, true)]
    public void Keep_ZeroOrOne_NeedsNoRandomNumber(double rate, bool expected)
    {
        var sampler = new AccessLogSampler(() => throw new InvalidOperationException("no draw expected"));

        Assert.Equal(expected, sampler.Keep(rate));
    }
}

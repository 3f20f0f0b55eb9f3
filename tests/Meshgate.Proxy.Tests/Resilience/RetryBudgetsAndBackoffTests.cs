using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.LoadBalancing;
using Meshgate.Proxy.Resilience.Retries;

namespace Meshgate.Proxy.Tests.Resilience;

public sealed class RetryBudgetsAndBackoffTests
{
    private sealed class FixedRandom(Func<long, long> pick) : IRandomSource
    {
        public int Next(int maxExclusive) => (int)pick(maxExclusive);
        public long NextInt64(long maxExclusive) => pick(maxExclusive);
    }

    [Theory]
    [InlineData(0, 50, 100)]
    [InlineData(1, 100, 200)]
    [InlineData(2, 200, 400)]
    [InlineData(5, 500, 1000)] // capped by max
    [InlineData(40, 500, 1000)]
    public void Delay_EqualJitter_BetweenHalfAndAllOfTheCappedExponential(int retry, int lowMs, int highMs)
    {
        var low = Backoff.Delay(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), retry, new FixedRandom(_ => 0));
        var high = Backoff.Delay(TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1), retry, new FixedRandom(max => max - 1));
        Assert.Equal(TimeSpan.FromMilliseconds(lowMs), low);
        Assert.Equal(TimeSpan.FromMilliseconds(highMs), high);
    }

    [Fact]
    public void Delay_ZeroBase_RetriesAtOnce() =>
        Assert.Equal(TimeSpan.Zero, Backoff.Delay(TimeSpan.Zero, TimeSpan.FromSeconds(1), 3, new FixedRandom(max => max - 1)));

    [Fact]
    public void AllowsRetry_LimitIsTheLargerOfMinimumAndPercentOfActive()
    {
        var budget = new RetryBudgets().For("c");
        var policy = new RetryBudgetPolicy(20, 2);
        for (var i = 0; i < 20; i++) budget.RequestStarted();

        // 20% of 20 active = 4.
        for (var i = 0; i < 4; i++)
        {
            Assert.True(budget.AllowsRetry(policy));
            budget.RetryStarted();
        }
        Assert.False(budget.AllowsRetry(policy));

        budget.RetryEnded();
        Assert.True(budget.AllowsRetry(policy));

        // Few active requests: the minimum holds.
        for (var i = 0; i < 18; i++) budget.RequestEnded();
        Assert.Equal(3, budget.RetriesInFlight);
        Assert.False(budget.AllowsRetry(policy));
        budget.RetryEnded();
        Assert.False(budget.AllowsRetry(policy));
        budget.RetryEnded();
        Assert.True(budget.AllowsRetry(policy));
    }

    [Fact]
    public void For_SameCluster_SameCounters() =>
        Assert.Same(new RetryBudgets() is var b ? b.For("orders") : null, b.For("ORDERS"));
}

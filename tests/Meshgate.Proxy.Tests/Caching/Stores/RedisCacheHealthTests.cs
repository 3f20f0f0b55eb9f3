using System.Diagnostics.Metrics;
using Meshgate.Proxy.Caching;
using Meshgate.Proxy.Caching.Stores.Redis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Meshgate.Proxy.Tests.Caching.Stores;

public sealed class RedisCacheHealthTests
{
    private sealed class RecordingLogger : ILogger<RedisCacheHealth>
    {
        public List<(LogLevel Level, int EventId)> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) => Lines.Add((logLevel, eventId.Id));
    }

    [Fact]
    public void Outage_LoggedOnceWhenItStartsAndOnceWhenItEnds_EveryFailureCounted()
    {
        var logger = new RecordingLogger();
        var meters = new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>();
        var health = new RedisCacheHealth(logger, new CachingMetrics(meters), TimeProvider.System);

        health.Succeeded("redis:6379");
        for (var i = 0; i < 100; i++) health.Failed("redis:6379", "shared", "get", "connection refused");
        Assert.True(health.Failing);
        Assert.NotNull(health.FailingSince);
        health.Succeeded("redis:6379");
        health.Succeeded("redis:6379");
        health.Failed("redis:6379", "shared", "set", "timeout");

        Assert.Equal([(LogLevel.Warning, 2901), (LogLevel.Information, 2902), (LogLevel.Warning, 2901)], logger.Lines);
        Assert.Equal(101, health.Errors);
        Assert.Equal("timeout", health.LastError);
    }
}

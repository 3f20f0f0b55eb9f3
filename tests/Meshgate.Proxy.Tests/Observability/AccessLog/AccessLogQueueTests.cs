using System.Diagnostics.Metrics;
using Meshgate.Configuration.Compilation;
using Meshgate.Proxy.Observability.AccessLog;
using Microsoft.Extensions.DependencyInjection;

namespace Meshgate.Proxy.Tests.Observability.AccessLog;

/// <summary>The writer's gathering after a busy batch: woken by the request that queues the last line it waits for, not by a timer.</summary>
public sealed class AccessLogQueueTests
{
    private static AccessLogQueue Queue(int capacity = 1000) =>
        new(capacity, new AccessLogMetrics(new ServiceCollection().AddMetrics().BuildServiceProvider().GetRequiredService<IMeterFactory>()));

    private static readonly AccessLogEntry Entry = new()
    {
        Policy = new AccessLogPolicy(null, 1 << 20, 5, AccessLogFields.All, false, 1, 10, new HashSet<string>()),
        Time = DateTimeOffset.UnixEpoch,
        DurationTicks = 0,
        Method = "GET",
        Status = 200,
    };

    [Fact]
    public async Task GatherAsync_CompletesWithTheLastLineItWaitsFor()
    {
        var queue = Queue();
        var gathered = queue.GatherAsync(3);

        queue.Enqueue(Entry);
        queue.Enqueue(Entry);
        Assert.False(gathered.IsCompleted);
        queue.Enqueue(Entry);

        await gathered.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, queue.Counters.Queued);
    }

    [Fact]
    public async Task GatherAsync_CountsLinesTheFullQueueDropped()
    {
        var queue = Queue(capacity: 1);
        var gathered = queue.GatherAsync(2);

        queue.Enqueue(Entry);
        queue.Enqueue(Entry);

        await gathered.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, queue.Counters.Dropped);
    }

    [Fact]
    public async Task EndGather_AndComplete_WakeTheWriter()
    {
        var queue = Queue();
        var timedOut = queue.GatherAsync(100);
        queue.Enqueue(Entry);
        Assert.False(timedOut.IsCompleted);
        queue.EndGather();
        await timedOut.WaitAsync(TimeSpan.FromSeconds(10));

        var stopping = queue.GatherAsync(100);
        queue.Complete();
        await stopping.WaitAsync(TimeSpan.FromSeconds(10));
        // Once completing, the writer no longer waits for lines that will not come.
        Assert.True(queue.GatherAsync(100).IsCompleted);
    }

    [Fact]
    public void Enqueue_NotGathering_WakesNothing()
    {
        var queue = Queue();
        var gathered = queue.GatherAsync(1);
        queue.EndGather();
        var next = queue.GatherAsync(2);

        queue.Enqueue(Entry);

        Assert.True(gathered.IsCompleted);
        Assert.False(next.IsCompleted);
    }
}

namespace Meshgate.TestKit;

/// <summary>Polls a condition until it holds or a deadline passes: for effects that land asynchronously (health checks, file reloads).</summary>
public static class Eventually
{
    public static async Task HoldsAsync(Func<Task<bool>> condition, TimeSpan timeout, string because)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await condition()) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"after {timeout.TotalSeconds:0.#}s: {because}");
            await Task.Delay(50);
        }
    }
}

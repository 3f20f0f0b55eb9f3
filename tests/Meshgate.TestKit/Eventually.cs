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

    /// <summary>
    /// Sends GET <paramref name="path"/> until it is answered 200 and returns how many were sent: for a concurrency permit,
    /// which the gateway gives back just after its last write, a moment after the client may have read the last byte.
    /// </summary>
    public static async Task<int> AnsweredOkAsync(HttpClient client, string path, string because)
    {
        var sent = 0;
        await HoldsAsync(async () =>
        {
            sent++;
            using var response = await client.GetAsync(path);
            return response.StatusCode == System.Net.HttpStatusCode.OK;
        }, TimeSpan.FromSeconds(5), because);
        return sent;
    }
}

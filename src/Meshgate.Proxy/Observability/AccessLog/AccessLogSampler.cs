namespace Meshgate.Proxy.Observability.AccessLog;

/// <summary>Decides which successful requests are logged under sampleSuccesses; the random source is a seam for tests.</summary>
internal sealed class AccessLogSampler(Func<double> nextDouble)
{
    public static AccessLogSampler Shared { get; } = new(Random.Shared.NextDouble);

    /// <param name="rate">The fraction to keep, 0..1.</param>
    public bool Keep(double rate) => rate >= 1 || (rate > 0 && nextDouble() < rate);
}

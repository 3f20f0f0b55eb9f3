using System.Globalization;
using Meshgate.Configuration.Sources.Etcd.Canary;

namespace Meshgate.Commands;

/// <summary>The options of `config push --canary`, checked together so every problem is named at once.</summary>
internal sealed record CanaryArguments(double SharePercent, CanaryThresholds Thresholds)
{
    public static readonly TimeSpan DefaultInterval = TimeSpan.FromSeconds(5);
    public const long DefaultMinRequests = 100;

    public static CanaryArguments? Parse(string share, string? maxErrorRateIncrease, string? maxP99Ratio, string? duration, string? interval, long? minRequests, out List<string> problems)
    {
        problems = [];
        var missing = new[] { ("--max-error-rate-increase", maxErrorRateIncrease), ("--max-p99-ratio", maxP99Ratio), ("--duration", duration) }.Where(o => o.Item2 is null).Select(o => o.Item1).ToList();
        if (missing.Count > 0) problems.Add($"--canary needs thresholds to judge the candidate by: missing {string.Join(", ", missing)} (like --max-error-rate-increase 1% --max-p99-ratio 1.5 --duration 5m)");

        var sharePercent = Percent(share);
        if (sharePercent is not (> 0 and < 100))
        {
            problems.Add(sharePercent is 100
                ? "--canary: 100% leaves no node on the current config to compare with; push without --canary to apply it everywhere"
                : $"--canary: expected a share of the nodes above 0% and below 100%, like 10% (got '{share}')");
        }
        var errorIncrease = maxErrorRateIncrease is null ? 0 : Percent(maxErrorRateIncrease);
        if (errorIncrease is not (>= 0 and <= 100)) problems.Add($"--max-error-rate-increase: expected percentage points between 0% and 100%, like 1% (got '{maxErrorRateIncrease}')");
        double ratio = 1;
        if (maxP99Ratio is not null && (!double.TryParse(maxP99Ratio, NumberStyles.Float, CultureInfo.InvariantCulture, out ratio) || !(ratio >= 1)))
        {
            problems.Add($"--max-p99-ratio: expected a number of 1 or more, like 1.5 (got '{maxP99Ratio}')");
        }
        var length = TimeSpan.Zero;
        if (duration is not null && (!Configuration.Model.Duration.TryParse(duration, out length) || length <= TimeSpan.Zero))
        {
            problems.Add($"--duration: expected a duration with a unit, like 30s or 5m (got '{duration}')");
        }
        var every = DefaultInterval;
        if (interval is not null && (!Configuration.Model.Duration.TryParse(interval, out every) || every < TimeSpan.FromMilliseconds(100)))
        {
            problems.Add($"--interval: expected a duration of 100ms or more, like 5s (got '{interval}')");
        }
        else if (length > TimeSpan.Zero && every > length)
        {
            problems.Add($"--interval ({Configuration.Model.Duration.Format(every)}) must not be longer than --duration ({Configuration.Model.Duration.Format(length)})");
        }
        if (minRequests is < 1) problems.Add($"--min-requests: expected 1 or more (got {minRequests})");
        if (problems.Count > 0) return null;
        return new CanaryArguments(sharePercent!.Value, new CanaryThresholds(errorIncrease!.Value / 100, ratio, length, every, minRequests ?? DefaultMinRequests));
    }

    /// <summary>"10%" or "10" as 10; null when it is not a number.</summary>
    private static double? Percent(string text) =>
        double.TryParse(text.Trim().TrimEnd('%'), NumberStyles.Float, CultureInfo.InvariantCulture, out var value) && double.IsFinite(value) ? value : null;
}

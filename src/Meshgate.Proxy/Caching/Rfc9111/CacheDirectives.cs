using System.Globalization;
using Microsoft.Extensions.Primitives;

namespace Meshgate.Proxy.Caching.Rfc9111;

/// <summary>
/// The Cache-Control directives a shared cache acts on (RFC 9111 section 5.2, RFC 5861), from a request or a response.
/// Durations are whole seconds; null means the directive is absent. Unknown directives are ignored (RFC 9111 5.2.3).
/// </summary>
internal readonly record struct CacheDirectives
{
    public bool NoStore { get; init; }
    public bool NoCache { get; init; }
    public bool Private { get; init; }
    public bool Public { get; init; }
    public bool MustRevalidate { get; init; }
    public bool ProxyRevalidate { get; init; }
    public bool OnlyIfCached { get; init; }
    public TimeSpan? MaxAge { get; init; }
    public TimeSpan? SharedMaxAge { get; init; }
    public TimeSpan? MinFresh { get; init; }

    /// <summary>max-stale: <see cref="TimeSpan.MaxValue"/> when given without a value (any staleness).</summary>
    public TimeSpan? MaxStale { get; init; }
    public TimeSpan? StaleWhileRevalidate { get; init; }
    public TimeSpan? StaleIfError { get; init; }

    /// <summary>Reads every Cache-Control field line; a directive given twice keeps its first value.</summary>
    public static CacheDirectives Parse(StringValues cacheControl, StringValues pragma = default)
    {
        var result = new CacheDirectives();
        foreach (var line in cacheControl)
        {
            if (line is null) continue;
            foreach (var part in line.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                var equals = part.IndexOf('=');
                var name = (equals < 0 ? part : part[..equals]).Trim().ToLowerInvariant();
                var value = equals < 0 ? null : part[(equals + 1)..].Trim().Trim('"');
                result = name switch
                {
                    "no-store" => result with { NoStore = true },
                    // no-cache="field" (a qualified form) is treated like plain no-cache: stricter, never wrong.
                    "no-cache" => result with { NoCache = true },
                    "private" => result with { Private = true },
                    "public" => result with { Public = true },
                    "must-revalidate" => result with { MustRevalidate = true },
                    "proxy-revalidate" => result with { ProxyRevalidate = true },
                    "only-if-cached" => result with { OnlyIfCached = true },
                    "max-age" => result with { MaxAge = result.MaxAge ?? Seconds(value) },
                    "s-maxage" => result with { SharedMaxAge = result.SharedMaxAge ?? Seconds(value) },
                    "min-fresh" => result with { MinFresh = result.MinFresh ?? Seconds(value) },
                    "max-stale" => result with { MaxStale = result.MaxStale ?? (value is null ? TimeSpan.MaxValue : Seconds(value)) },
                    "stale-while-revalidate" => result with { StaleWhileRevalidate = result.StaleWhileRevalidate ?? Seconds(value) },
                    "stale-if-error" => result with { StaleIfError = result.StaleIfError ?? Seconds(value) },
                    _ => result,
                };
            }
        }
        // Pragma: no-cache counts only when Cache-Control is absent (RFC 9111 section 5.4).
        if (cacheControl.Count == 0 && pragma.Any(p => p is not null && p.Contains("no-cache", StringComparison.OrdinalIgnoreCase)))
        {
            result = result with { NoCache = true };
        }
        return result;
    }

    /// <summary>A delta-seconds value; an invalid one counts as 0 (RFC 9111 1.2.2: stale, the safe reading).</summary>
    private static TimeSpan Seconds(string? value) =>
        long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(Math.Min(seconds, int.MaxValue))
            : TimeSpan.Zero;
}
